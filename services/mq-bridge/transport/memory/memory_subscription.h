#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_MEMORY_MEMORY_SUBSCRIPTION_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_MEMORY_MEMORY_SUBSCRIPTION_H_

// Internal to the memory driver: users go through memory_transport.h.

#include <cstdint>
#include <deque>
#include <map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "services/mq-bridge/transport/memory/memory_broker.h"
#include "services/mq-bridge/transport/memory/memory_queue_store.h"
#include "services/mq-bridge/transport/transport.h"

namespace switchboard::bridge::memory {

// A subscription of a MemoryTransport: its deliveries, unacked until
// settled, and the handler they are handed to.
//
// Destruction closes it: it leaves its queues, waits for a running
// handler, and puts its unacked deliveries back (Subscription).
class MemorySubscription final : public Subscription {
 public:
  // Consumes from `queues` of `broker`, which must outlive it; the caller
  // adds it to their Queue::consumers.
  MemorySubscription(Broker* broker, DeliveryHandler handler, uint32_t prefetch,
                     std::vector<Queue*> queues);
  ~MemorySubscription() override;

  absl::Status Ack(absl::Span<const uint64_t> tags) override;
  absl::Status Nack(absl::Span<const uint64_t> tags, bool requeue) override;

  // For Broker's *Locked methods, which hold their own mu_: the analysis
  // cannot tell that it is this subscription's broker_->mu().
  void AssertLockHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK(broker_->mu()) {
    broker_->mu().AssertHeld();
  }

  // Fewer than `prefetch` deliveries are unsettled.
  bool HasCreditLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(broker_->mu()) {
    return unsettled_ < prefetch_;
  }

  // Delivers `message`, taken from `queue` (QueueStore::TakeForDelivery):
  // unacked until settled, pending until the dispatcher hands it to the
  // handler. True when the caller must run the dispatcher (RunDispatcher),
  // which it is then marked as.
  bool DeliverLocked(Queue* queue, StoredMessage message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(broker_->mu());

  // The dispatcher: hands pending deliveries to the handler, in batches,
  // until none is left or the subscription is closed.
  void RunDispatcher() ABSL_LOCKS_EXCLUDED(broker_->mu());

 private:
  struct Unacked {
    Queue* queue;
    StoredMessage message;
    bool settled;
  };

  enum class Outcome {
    kAck,
    // Back at the head of its queue.
    kRequeue,
    // To the queue's dead-letter queue when it has one, as RabbitMQ
    // dead-letters a reject without requeue; else dropped.
    kReject,
  };

  // Settles `tags`, all or nothing.
  absl::Status Settle(absl::Span<const uint64_t> tags, Outcome outcome)
      ABSL_LOCKS_EXCLUDED(broker_->mu());

  // The unsettled delivery with `tag`, or null.
  Unacked* FindLocked(uint64_t tag)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(broker_->mu());

  // Records a delivery; tags are handed out in order, so the window is a
  // deque indexed by tag (no allocation per delivery).
  uint64_t AddLocked(Queue* queue, StoredMessage message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(broker_->mu());

  void SettleLocked(Unacked* entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(broker_->mu());

  // Takes every unsettled delivery, by queue, in tag order.
  std::map<Queue*, std::vector<StoredMessage>> TakeUnackedLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(broker_->mu());

  Broker* const broker_;
  const DeliveryHandler handler_;
  const uint32_t prefetch_;
  const std::vector<Queue*> queues_;
  // Deliveries of tags [first_tag_, next_tag_); pending (not yet handed to
  // the handler) ones are unacked too.
  std::deque<Unacked> window_ ABSL_GUARDED_BY(broker_->mu());
  uint64_t first_tag_ ABSL_GUARDED_BY(broker_->mu()) = 1;
  uint64_t next_tag_ ABSL_GUARDED_BY(broker_->mu()) = 1;
  size_t unsettled_ ABSL_GUARDED_BY(broker_->mu()) = 0;
  std::vector<Delivery> pending_ ABSL_GUARDED_BY(broker_->mu());
  bool dispatching_ ABSL_GUARDED_BY(broker_->mu()) = false;
  bool closed_ ABSL_GUARDED_BY(broker_->mu()) = false;
};

}  // namespace switchboard::bridge::memory

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_MEMORY_MEMORY_SUBSCRIPTION_H_
