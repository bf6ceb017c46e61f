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
// robin), last-value queues and per-queue limits (max length and bytes,
// drop-head / reject-publish / dead-letter, message TTL, idle expiry)
// behave as they do on RabbitMQ.
//
// One mutex guards all queues; it is taken once per published batch and
// once per ack batch, never per message, and never while a handler runs.
class MemoryTransport final : public Transport {
 public:
  // What happens to a message that would take a queue past the
  // transport-wide bounds below (per-queue limits have their own policy,
  // QueueLimits::overflow).
  enum class Overflow {
    // That message is refused for that queue (a Refusal), unless the
    // queue's own policy drops from the head, which then makes room.
    kReject,
    // Each message that does not fit first drops the oldest ready messages
    // of its queue, and is dropped itself when none is ready (unacked ones
    // stay); counted by dropped(). For drivers that use this transport as
    // the buffer of a sender they cannot push back on (zeromq).
    kDropOldest,
  };

  struct Settings {
    // Ready + unacked messages one queue may hold, whatever its limits.
    uint64_t max_queue_depth = 1'000'000;
    // Payload bytes all queues together may hold (a payload in two queues
    // counts twice).
    uint64_t max_total_bytes = uint64_t{1} << 30;
    // Deliveries without an ack after which a message moves to
    // "dead.<queue>" instead of coming back (Capabilities::max_deliveries,
    // as RabbitMQ's driver does); 0 never.
    uint32_t max_deliveries = 10;
    // Not a `transport.memory` setting.
    Overflow overflow = Overflow::kReject;
    // How often, at most, idle queues are looked for (QueueLimits::expires).
    absl::Duration expiry_sweep = absl::Milliseconds(100);
  };

  // Reads `transport.memory` settings: max_queue_depth, max_total_bytes,
  // max_deliveries.
  static absl::StatusOr<Settings> ParseSettings(const ConfigNode& settings);
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
    // When message_ttl ends it (InfiniteFuture without one).
    absl::Time expires_at = absl::InfiniteFuture();
  };

  struct Queue {
    std::string name;
    QueueOptions options;
    std::deque<Stored> ready;
    // Payload bytes of `ready`.
    uint64_t ready_bytes = 0;
    std::vector<MemorySubscription*> consumers;
    size_t next_consumer = 0;
    uint64_t unacked = 0;
    // Last declaration, subscription start or end (QueueLimits::expires).
    absl::Time last_used;
    // Counters of QueueStats.
    uint64_t dropped = 0;
    uint64_t rejected = 0;
    uint64_t expired = 0;
    uint64_t dead_lettered = 0;
  };

  // The queue named `name`, or null.
  Queue* FindLocked(absl::string_view name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Puts `message` at the tail of `queue` within its limits and the
  // transport's bounds; a non-OK status means it was refused.
  absl::Status StoreLocked(Queue* queue, Stored message, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops `queue`'s ready head, counted in `counter` (dead-lettering it
  // with kDeadLetter).
  void DropHeadLocked(Queue* queue, uint64_t Queue::*counter)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stores `message` in `queue`'s dead-letter queue, counted in
  // Queue::dead_lettered; false (and the message is gone) without one or
  // when it refuses it.
  bool DeadLetterLocked(Queue* queue, Stored message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes ready messages whose message_ttl has passed, from the head.
  void ExpireLocked(Queue* queue, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Deletes queues whose QueueLimits::expires has passed unused.
  void SweepIdleQueuesLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PushReadyLocked(Queue* queue, Stored message, bool front)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Stored PopReadyLocked(Queue* queue) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

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

  const Settings settings_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Queue>> queues_
      ABSL_GUARDED_BY(mu_);
  uint64_t total_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time next_sweep_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace switchboard::bridge

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_MEMORY_MEMORY_TRANSPORT_H_
