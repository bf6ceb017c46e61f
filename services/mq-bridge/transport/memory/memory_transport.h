#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_MEMORY_MEMORY_TRANSPORT_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_MEMORY_MEMORY_TRANSPORT_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "services/common/config.h"
#include "services/mq-bridge/transport/transport.h"

namespace switchboard::bridge {

// The embedded transport, registered as "memory": FIFO queues in the
// bridge's own memory. No broker to run, nothing survives a restart of the
// bridge. Acks, redelivery of unacked messages, competing consumers (round
// robin) and last-value queues behave as they do on RabbitMQ.
//
// One mutex guards all queues; it is taken once per published batch and
// once per ack batch, never per message, and never while a handler runs.
class MemoryTransport final : public Transport {
 public:
  // What happens to messages that would exceed a limit.
  enum class Overflow {
    // The batch fails whole with ResourceExhausted: for senders that retry
    // (the broadcaster, through the bridge).
    kReject,
    // Each message that does not fit first drops the oldest ready messages
    // of its queue, and is dropped itself when none is ready (unacked ones
    // stay); counted by dropped(). For drivers that use this transport as
    // the buffer of a sender they cannot push back on (zeromq).
    kDropOldest,
  };

  struct Settings {
    // Ready + unacked messages one queue may hold; a batch that would
    // exceed it fails whole with ResourceExhausted.
    uint64_t max_queue_depth = 1'000'000;
    // Payload bytes all queues together may hold (a payload in two queues
    // counts twice).
    uint64_t max_total_bytes = uint64_t{1} << 30;
    // Not a `transport.memory` setting: the memory driver always rejects.
    Overflow overflow = Overflow::kReject;
  };

  // Reads `transport.memory` settings: max_queue_depth, max_total_bytes.
  static absl::StatusOr<std::unique_ptr<Transport>> Create(
      const ConfigNode& settings);

  explicit MemoryTransport(Settings settings);
  ~MemoryTransport() override;

  absl::string_view driver() const override { return "memory"; }
  Capabilities capabilities() const override;
  absl::Status DeclareQueue(absl::string_view name,
                            const QueueOptions& options) override;
  void Publish(std::vector<OutgoingMessage> batch,
               PublishCallback done) override;
  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(
      const SubscribeOptions& options, DeliveryHandler handler) override;
  absl::StatusOr<std::vector<QueueStats>> GetQueueStats(
      absl::Span<const std::string> queues) override;

  // Messages dropped so far to make room (Overflow::kDropOldest).
  uint64_t dropped() const;

 private:
  class MemorySubscription;

  struct Stored {
    std::string id;
    std::shared_ptr<const std::string> payload;
    uint32_t delivery_count = 0;
  };

  struct Queue {
    std::string name;
    QueueOptions options;
    std::deque<Stored> ready;
    std::vector<MemorySubscription*> consumers;
    size_t next_consumer = 0;
    uint64_t unacked = 0;
  };

  // Hands `queue`'s ready messages to its consumers that have credit, round
  // robin. Subscriptions that got messages and need a dispatcher are
  // appended to `to_run`, already marked as dispatching.
  void DispatchLocked(Queue* queue, std::vector<MemorySubscription*>* to_run)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Calls the handlers of `to_run`; must be called without mu_ held.
  void RunDispatchers(const std::vector<MemorySubscription*>& to_run)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Puts `messages` (in delivery order) back at the head of `queue`.
  void RequeueLocked(Queue* queue, std::vector<Stored> messages)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropLocked(const Stored& message) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Overflow::kDropOldest: drops the oldest ready messages of `queue` until
  // a message of `bytes` fits; false when it cannot fit even so.
  bool MakeRoomLocked(Queue* queue, uint64_t bytes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Settings settings_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Queue>> queues_
      ABSL_GUARDED_BY(mu_);
  uint64_t total_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace switchboard::bridge

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_MEMORY_MEMORY_TRANSPORT_H_
