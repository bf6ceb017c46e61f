#include "services/mq-bridge/transport/memory/memory_subscription.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace switchboard::bridge::memory {

MemorySubscription::MemorySubscription(Broker* broker, DeliveryHandler handler,
                                       uint32_t prefetch,
                                       std::vector<Queue*> queues)
    : broker_(broker),
      handler_(std::move(handler)),
      prefetch_(prefetch),
      queues_(std::move(queues)) {}

MemorySubscription::~MemorySubscription() {
  std::vector<MemorySubscription*> to_run;
  {
    absl::MutexLock lock(&broker_->mu());
    closed_ = true;
    const absl::Time now = absl::Now();
    for (Queue* q : queues_) {
      auto& c = q->consumers;
      c.erase(std::remove(c.begin(), c.end(), this), c.end());
      q->last_used = now;
    }
    // A dispatcher may be inside the handler; it stops at its next look
    // at closed_. Wait for it so the handler is never called after this.
    broker_->mu().Await(absl::Condition(
        +[](bool* dispatching) { return !*dispatching; }, &dispatching_));
    pending_.clear();
    for (auto& [queue, messages] : TakeUnackedLocked()) {
      broker_->store().Requeue(queue, std::move(messages));
      broker_->DispatchLocked(queue, &to_run);
    }
  }
  broker_->RunDispatchers(to_run);
}

absl::Status MemorySubscription::Ack(absl::Span<const uint64_t> tags) {
  return Settle(tags, Outcome::kAck);
}

absl::Status MemorySubscription::Nack(absl::Span<const uint64_t> tags,
                                      bool requeue) {
  return Settle(tags, requeue ? Outcome::kRequeue : Outcome::kReject);
}

bool MemorySubscription::DeliverLocked(Queue* queue, StoredMessage message) {
  Delivery delivery{0,
                    queue->name,
                    message.id,
                    message.payload,
                    message.delivery_count > 1,
                    message.delivery_count};
  delivery.tag = AddLocked(queue, std::move(message));
  pending_.push_back(std::move(delivery));
  if (dispatching_) return false;
  dispatching_ = true;
  return true;
}

void MemorySubscription::RunDispatcher() {
  for (;;) {
    std::vector<Delivery> batch;
    {
      absl::MutexLock lock(&broker_->mu());
      if (closed_ || pending_.empty()) {
        dispatching_ = false;
        break;
      }
      batch.swap(pending_);
    }
    handler_(std::move(batch));
  }
}

MemorySubscription::Unacked* MemorySubscription::FindLocked(uint64_t tag) {
  if (tag < first_tag_ || tag >= next_tag_) return nullptr;
  Unacked& entry = window_[tag - first_tag_];
  return entry.settled ? nullptr : &entry;
}

uint64_t MemorySubscription::AddLocked(Queue* queue, StoredMessage message) {
  window_.push_back(Unacked{queue, std::move(message), false});
  ++unsettled_;
  return next_tag_++;
}

void MemorySubscription::SettleLocked(Unacked* entry) {
  entry->settled = true;
  entry->message = StoredMessage();  // frees the payload now
  --entry->queue->unacked;
  --unsettled_;
  // Settled entries behind an older unsettled one stay until it settles;
  // each is a few empty words.
  while (!window_.empty() && window_.front().settled) {
    window_.pop_front();
    ++first_tag_;
  }
}

absl::Status MemorySubscription::Settle(absl::Span<const uint64_t> tags,
                                        Outcome outcome) {
  const bool requeue = outcome == Outcome::kRequeue;
  std::vector<MemorySubscription*> to_run;
  {
    absl::MutexLock lock(&broker_->mu());
    for (uint64_t tag : tags) {
      if (FindLocked(tag) == nullptr) {
        return absl::NotFoundError(absl::StrCat(
            "delivery tag ", tag,
            " is not an unacked delivery of this subscription (already "
            "acked, or never delivered)"));
      }
    }
    std::map<Queue*, std::vector<StoredMessage>> back;
    std::vector<uint64_t> sorted(tags.begin(), tags.end());
    if (requeue) {
      // Requeued messages keep their delivery order.
      std::sort(sorted.begin(), sorted.end());
    }
    for (uint64_t tag : sorted) {
      Unacked* entry = FindLocked(tag);
      if (entry == nullptr) continue;  // a tag listed twice
      if (requeue) {
        back[entry->queue].push_back(std::move(entry->message));
      } else {
        broker_->store().Release(entry->message);
        if (outcome == Outcome::kReject) {
          broker_->store().DeadLetter(entry->queue, std::move(entry->message));
        }
      }
      SettleLocked(entry);
    }
    for (auto& [queue, messages] : back) {
      broker_->store().Requeue(queue, std::move(messages));
    }
    // Settling frees credit; requeueing adds ready messages.
    for (Queue* queue : queues_) broker_->DispatchLocked(queue, &to_run);
  }
  broker_->RunDispatchers(to_run);
  return absl::OkStatus();
}

std::map<Queue*, std::vector<StoredMessage>>
MemorySubscription::TakeUnackedLocked() {
  std::map<Queue*, std::vector<StoredMessage>> by_queue;
  for (Unacked& entry : window_) {  // in tag order
    if (entry.settled) continue;
    --entry.queue->unacked;
    by_queue[entry.queue].push_back(std::move(entry.message));
  }
  window_.clear();
  unsettled_ = 0;
  return by_queue;
}

}  // namespace switchboard::bridge::memory
