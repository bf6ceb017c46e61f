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
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace switchboard::bridge {

// What a driver guarantees. The conformance suite skips exactly the tests of
// the guarantees a driver declares it lacks, and GetTransportInfo shows them
// to operators.
struct Capabilities {
  // Messages survive a restart of the transport (broker, process).
  bool durable = false;
  // A new instance can take over from a running one (SIGHUP reload): the
  // queues live outside the process (a broker), not in this instance.
  bool replaceable = false;
  // QueueOptions::limits are applied (max length and bytes, overflow
  // policy, message TTL, idle expiry), with per-queue counters.
  bool queue_limits = false;
  // QueueStats counts what limits dropped, expired and dead-lettered (not
  // so on RabbitMQ, whose broker drops without telling its clients; there
  // only `rejected` is counted).
  bool drop_counters = false;
  // A queue never holds more than its max_length or max_bytes: the limit
  // applies to the very message that would exceed it. Not so on RabbitMQ
  // quorum queues, which check after an enqueue and may take one more.
  bool exact_limits = false;
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
  // A message delivered this many times without an ack (nacked with
  // requeue, or held by subscriptions that ended) is not delivered again
  // but moved to the dead-letter queue "dead.<queue>", declared with its
  // queue (not for last-value queues) and counted in
  // QueueStats::dead_lettered where the driver has drop counters. 0: never.
  uint32_t max_deliveries = 0;
};

// What a queue does with a message that would take it past a limit; the
// names and meaning are RabbitMQ's `x-overflow`.
enum class OverflowPolicy {
  // The oldest ready messages are dropped to make room (counted).
  kDropHead,
  // The new message is refused for this queue only: Publish reports it in
  // PublishResult::refused (ResourceExhausted); the batch's other queues
  // still get it.
  kRejectPublish,
  // As kDropHead, but what is dropped, and what expires, moves to the
  // dead-letter queue "dead.<queue>" (bounded like its queue, drop-head).
  kDeadLetter,
};

// "drop-head", "reject-publish", "dead-letter".
absl::string_view OverflowPolicyName(OverflowPolicy policy);
// InvalidArgument listing the names for anything else.
absl::StatusOr<OverflowPolicy> ParseOverflowPolicyName(absl::string_view name);

// Per-queue bounds, modelled on RabbitMQ's queue arguments. Zero means no
// limit. Every driver that declares queue_limits applies them the same way.
struct QueueLimits {
  // Ready messages (unacked ones do not count, as on RabbitMQ).
  uint64_t max_length = 0;
  // Payload bytes of the ready messages.
  uint64_t max_bytes = 0;
  // A message older than this (since it was published) is dropped, or
  // dead-lettered with kDeadLetter, when it reaches the head of its queue.
  absl::Duration message_ttl = absl::ZeroDuration();
  // A queue with no subscriber that nobody declared or subscribed to for
  // this long is deleted with its messages (RabbitMQ's x-expires). The
  // next declaration creates it anew.
  absl::Duration expires = absl::ZeroDuration();
  OverflowPolicy overflow = OverflowPolicy::kDropHead;

  bool operator==(const QueueLimits& o) const {
    return max_length == o.max_length && max_bytes == o.max_bytes &&
           message_ttl == o.message_ttl && expires == o.expires &&
           overflow == o.overflow;
  }
  bool operator!=(const QueueLimits& o) const { return !(*this == o); }
};

// How a queue behaves.
struct QueueOptions {
  // Keep only the newest ready message; used for per-link status.
  bool last_value = false;
  QueueLimits limits;

  bool operator==(const QueueOptions& other) const {
    return last_value == other.last_value && limits == other.limits;
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

// Depth and consumers of one queue, and what its limits did. The counters
// count since this bridge process declared the queue; a driver that cannot
// count one (the broker drops without telling) leaves it 0 and says so in
// its documentation.
struct QueueStats {
  std::string name;
  uint64_t depth = 0;
  uint64_t unacked = 0;
  uint32_t consumers = 0;
  bool last_value = false;
  // Dropped from the head to make room (kDropHead).
  uint64_t dropped = 0;
  // Refused at publish (kRejectPublish, or over a transport-wide bound).
  uint64_t rejected = 0;
  // Dropped because their message_ttl passed.
  uint64_t expired = 0;
  // Moved to "dead.<queue>" (kDeadLetter, or too many deliveries).
  uint64_t dead_lettered = 0;
};

// Receives deliveries, in order per queue, in batches. Never called
// concurrently for one subscription. Must not block for long (it runs on
// the transport's or a publisher's thread) and must not destroy its own
// Subscription.
using DeliveryHandler = std::function<void(std::vector<Delivery> batch)>;

// One message that one of its queues did not take.
struct Refusal {
  // Index of the message in the published batch.
  size_t message = 0;
  std::string queue;
  // ResourceExhausted: the queue is full and its overflow policy is
  // kRejectPublish (or a transport-wide bound is reached). InvalidArgument:
  // this transport cannot carry the message at all (e.g. an AMQP property
  // over 255 bytes); sending it again would fail again.
  absl::Status status;
};

// The outcome of one Publish.
struct PublishResult {
  // A batch-wide outcome with no refusals.
  PublishResult(absl::Status s = absl::OkStatus())  // NOLINT: implicit
      : status(std::move(s)) {}
  PublishResult(absl::Status s, std::vector<Refusal> r)
      : status(std::move(s)), refused(std::move(r)) {}

  // Not OK: nothing of the batch is published (the caller may send the
  // whole batch again). OK: every message is held in every one of its
  // queues, except the pairs listed in `refused`.
  absl::Status status;
  std::vector<Refusal> refused;

  // For callers that only care whether the batch went through.
  operator const absl::Status&() const { return status; }  // NOLINT
};

// Called exactly once per Publish with the batch's outcome, possibly on
// another thread, possibly before Publish returns.
using PublishCallback = std::function<void(PublishResult result)>;

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
  // The deliveries failed: back at the head of their queue when `requeue`;
  // otherwise moved to the queue's dead-letter queue "dead.<queue>" where
  // it has one (QueueLimits DEAD_LETTER, or Capabilities::max_deliveries),
  // else dropped. Same errors as Ack.
  virtual absl::Status Nack(absl::Span<const uint64_t> tags, bool requeue) = 0;
};

// A message transport: the only code that knows the broker. Drivers are
// created by name through the TransportRegistry. Thread-safe: every method
// may be called from any thread.
class Transport {
 public:
  virtual ~Transport() = default;

  // The name the driver registered under (registry.h).
  virtual absl::string_view driver() const = 0;
  virtual Capabilities capabilities() const = 0;
  // Where the transport is connected now, for operators (the rabbitmq
  // driver: "amqp://user@host:port/vhost" of the cluster node its publisher
  // uses, or last used while it reconnects); empty when it says nothing.
  // Never a secret.
  virtual std::string connected_to() const { return {}; }

  // Creates `name` if absent. Idempotent with the same options;
  // FailedPrecondition when the queue exists with other options;
  // InvalidArgument for a malformed name.
  virtual absl::Status DeclareQueue(absl::string_view name,
                                    const QueueOptions& options) = 0;

  // Publishes `batch` in order. `done` gets OK once the transport holds
  // every message of the batch (for brokers: confirmed) except the
  // refusals it lists, or the error. A full queue or a message the
  // transport cannot carry refuses only that message in that queue (see
  // Refusal), never the batch. A batch naming an undeclared queue fails
  // whole with NotFound and nothing of it is published. An empty batch is
  // confirmed at once.
  //
  // Order: batches complete (`done` is called) in the order they were
  // published, and a batch does not fail while a later one is stored in
  // the same queue (memory and zeromq fail before storing anything;
  // rabbitmq republishes itself after a lost connection, and a queue gone
  // from the broker returns every later message for it too). So a caller
  // that stops at a failure and sends the failed batch and everything after
  // it again keeps each queue's order. (rabbitmq publishes a batch the
  // broker nacked, not a reject-publish refusal, again itself, with every
  // batch after it, on a new connection.)
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
