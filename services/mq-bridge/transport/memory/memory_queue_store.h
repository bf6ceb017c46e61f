#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_MEMORY_MEMORY_QUEUE_STORE_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_MEMORY_MEMORY_QUEUE_STORE_H_

// Internal to the memory driver: users go through memory_transport.h.

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "services/mq-bridge/transport/memory/memory_transport.h"
#include "services/mq-bridge/transport/transport.h"

namespace switchboard::bridge::memory {

class MemorySubscription;

// One message held by a queue, ready or unacked.
struct StoredMessage {
  std::string id;
  std::shared_ptr<const std::string> payload;
  uint32_t delivery_count = 0;
  // When message_ttl ends it (InfiniteFuture without one).
  absl::Time expires_at = absl::InfiniteFuture();
};

// One declared queue. Its unacked messages are held by the subscriptions
// they were delivered to; the queue only counts them.
struct Queue {
  std::string name;
  QueueOptions options;
  std::deque<StoredMessage> ready;
  // Payload bytes of `ready`.
  uint64_t ready_bytes = 0;
  // Subscriptions consuming from it, served round robin from
  // `next_consumer` (memory_broker.cc).
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

// The queues of a MemoryTransport and what they hold: ready messages,
// unacked counts, per-queue limits and the transport's bounds (with their
// overflow policies), dead-letter queues "dead.<queue>", message TTL and
// idle expiry.
//
// Not thread-safe: its owner's mutex (memory::Broker::mu_) guards it, the
// Queues it hands out and the messages in them.
class QueueStore {
 public:
  explicit QueueStore(const MemoryTransport::Settings& settings);

  QueueStore(const QueueStore&) = delete;
  QueueStore& operator=(const QueueStore&) = delete;

  // The queue named `name`, or null.
  Queue* Find(absl::string_view name);

  // Transport::DeclareQueue for a valid `name`: declares it, and first its
  // dead-letter queue when it has one (kDeadLetter, or max_deliveries).
  absl::Status Declare(absl::string_view name, const QueueOptions& options,
                       absl::Time now);

  // Puts `message` at the tail of `queue` within its limits and the
  // transport's bounds; a non-OK status means it was refused.
  absl::Status Store(Queue* queue, StoredMessage message, absl::Time now);

  // Stores `message` in `queue`'s dead-letter queue, counted in
  // Queue::dead_lettered; false (and the message is gone) without one or
  // when it refuses it.
  bool DeadLetter(Queue* queue, StoredMessage message);

  // Removes ready messages whose message_ttl has passed, from the head.
  void Expire(Queue* queue, absl::Time now);

  // Deletes queues whose QueueLimits::expires has passed unused, at most
  // once per Settings::expiry_sweep.
  void SweepIdleQueues(absl::Time now);

  // Takes the ready head of `queue` (not empty) for a delivery: it becomes
  // unacked, one more delivery.
  StoredMessage TakeForDelivery(Queue* queue);

  // Puts unacked `messages` (in delivery order) back at the head of
  // `queue`, or moves those delivered max_deliveries times to its
  // dead-letter queue. Queue::unacked is the caller's to decrement.
  void Requeue(Queue* queue, std::vector<StoredMessage> messages);

  // Forgets the bytes of an unacked message that leaves (acked, rejected).
  void Release(const StoredMessage& message);

  // Transport::GetQueueStats, after expiring what has expired.
  absl::StatusOr<std::vector<QueueStats>> Stats(
      absl::Span<const std::string> names, absl::Time now);

  // Messages dropped so far to make room (Overflow::kDropOldest).
  uint64_t dropped() const { return dropped_; }

 private:
  // Declares one queue (Declare).
  absl::Status DeclareOne(absl::string_view name, const QueueOptions& options,
                          absl::Time now);
  // Makes room in `queue` for a message of `size` bytes within its own
  // limits, by its overflow policy; a non-OK status refuses it.
  absl::Status FitQueueLimits(Queue* queue, uint64_t size);
  // Makes room in `queue` for a message of `size` bytes within the
  // transport's bounds (Settings::overflow); a non-OK status refuses it,
  // false drops it (kDropOldest).
  absl::StatusOr<bool> FitTransportBounds(Queue* queue, uint64_t size);
  // A refusal of a message for `queue`, counted in Queue::rejected.
  absl::Status Refuse(Queue* queue, absl::string_view why);
  // Drops `queue`'s ready head, counted in `counter` (dead-lettering it
  // with kDeadLetter).
  void DropHead(Queue* queue, uint64_t Queue::*counter);
  void PushReady(Queue* queue, StoredMessage message, bool front);
  StoredMessage PopReady(Queue* queue);

  const MemoryTransport::Settings settings_;
  absl::flat_hash_map<std::string, std::unique_ptr<Queue>> queues_;
  // Payload bytes of all ready and unacked messages.
  uint64_t total_bytes_ = 0;
  uint64_t dropped_ = 0;
  absl::Time next_sweep_ = absl::InfinitePast();
};

}  // namespace switchboard::bridge::memory

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_MEMORY_MEMORY_QUEUE_STORE_H_
