#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_TRANSPORT_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_TRANSPORT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace switchboard::bridge {

// What a driver guarantees. The conformance suite skips exactly the tests of
// the guarantees a driver declares it lacks, and GetTransportInfo shows them
// to operators.
struct Capabilities {
  // Messages survive a restart of the transport (broker, process).
  bool durable = false;
  // Deliveries are acked; unacked ones go back to their queue when their
  // subscription ends, and nack(requeue) puts them back at once.
  bool acks = false;
  // Queues declared with QueueOptions::last_value keep only their newest
  // message.
  bool last_value = false;
  // Nack with requeue puts the delivery back at the head of its queue, so
  // it comes before later messages (not so on RabbitMQ quorum queues, which
  // requeue at the tail).
  bool ordered_requeue = false;
  // Publish's OK means the transport holds the message for every
  // subscriber of its queues, wherever they are (a broker's confirm, or one
  // process holding all queues). False (zeromq): OK means sent; a receiver
  // that is slow, disconnected or not yet connected misses it, and nothing
  // sends it again.
  bool confirmed_delivery = false;
};

// How a queue behaves.
struct QueueOptions {
  // Keep only the newest ready message; used for per-link status.
  bool last_value = false;

  bool operator==(const QueueOptions& other) const {
    return last_value == other.last_value;
  }
};

// One event to publish, to one or more queues.
struct OutgoingMessage {
  // The event's id (for transport headers and deduplication).
  std::string id;
  // The serialized switchboard.v1.Event. Shared: one payload often goes to
  // several queues and sits in several of them.
  std::shared_ptr<const std::string> payload;
  // Declared queues to put it in.
  std::vector<std::string> queues;
  // The event's source, type and time, for transports that expose them as
  // message metadata (AMQP properties).
  std::string source;
  std::string type;
  int64_t time_unix_nanos = 0;
};

// One message handed to a subscriber.
struct Delivery {
  // Unique within the subscription; acks and nacks name it.
  uint64_t tag = 0;
  std::string queue;
  std::string id;
  std::shared_ptr<const std::string> payload;
  // Delivered before (to this or another subscription) and not acked.
  bool redelivered = false;
  // Deliveries so far, this one included.
  uint32_t delivery_count = 1;
};

// Depth and consumers of one queue.
struct QueueStats {
  std::string name;
  uint64_t depth = 0;
  uint64_t unacked = 0;
  uint32_t consumers = 0;
  bool last_value = false;
};

// Receives deliveries, in order per queue, in batches. Never called
// concurrently for one subscription. Must not block for long (it runs on
// the transport's or a publisher's thread) and must not destroy its own
// Subscription.
using DeliveryHandler = std::function<void(std::vector<Delivery> batch)>;

// Called exactly once per Publish with the batch's outcome, possibly on
// another thread, possibly before Publish returns.
using PublishCallback = std::function<void(absl::Status status)>;

struct SubscribeOptions {
  // Declared queues to consume from.
  std::vector<std::string> queues;
  // The most deliveries unacked at once (AMQP's basic.qos prefetch); the
  // subscriber's credit window. At least 1.
  uint32_t prefetch = 1;
};

// An open consumption on one or more queues. Thread-safe.
//
// Destruction stops deliveries, waits for a running handler call to return,
// and puts every unacked delivery back at the head of its queue, in its
// original order, to be delivered again (to another subscription).
class Subscription {
 public:
  virtual ~Subscription() = default;

  // The deliveries are done: they leave their queues. NotFound (and nothing
  // acked) when a tag is not an unacked delivery of this subscription.
  virtual absl::Status Ack(absl::Span<const uint64_t> tags) = 0;
  // The deliveries failed: back at the head of their queue when `requeue`,
  // dropped otherwise. Same errors as Ack.
  virtual absl::Status Nack(absl::Span<const uint64_t> tags, bool requeue) = 0;
};

// A message transport: the only code that knows the broker. Drivers are
// created by name through the TransportRegistry. Thread-safe: every method
// may be called from any thread.
class Transport {
 public:
  virtual ~Transport() = default;

  // The registry name ("memory", "rabbitmq", ...).
  virtual absl::string_view driver() const = 0;
  virtual Capabilities capabilities() const = 0;

  // Creates `name` if absent. Idempotent with the same options;
  // FailedPrecondition when the queue exists with other options;
  // InvalidArgument for a malformed name.
  virtual absl::Status DeclareQueue(absl::string_view name,
                                    const QueueOptions& options) = 0;

  // Publishes `batch` in order. `done` gets OK once the transport holds
  // every message of the batch (for brokers: confirmed), or the error. A
  // batch naming an undeclared queue fails whole with NotFound, one over a
  // capacity limit with ResourceExhausted; either way nothing of it is
  // published. An empty batch is confirmed at once.
  virtual void Publish(std::vector<OutgoingMessage> batch,
                       PublishCallback done) = 0;

  // Starts consuming. NotFound when a queue is not declared,
  // InvalidArgument for an empty list or a prefetch of 0.
  virtual absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(
      const SubscribeOptions& options, DeliveryHandler handler) = 0;

  // Stats of the named queues (all queues when empty), sorted by name.
  // NotFound when a named queue is not declared.
  virtual absl::StatusOr<std::vector<QueueStats>> GetQueueStats(
      absl::Span<const std::string> queues) = 0;
};

}  // namespace switchboard::bridge

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_TRANSPORT_H_
