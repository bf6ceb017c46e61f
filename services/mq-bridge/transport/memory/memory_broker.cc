#include "services/mq-bridge/transport/memory/memory_broker.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/common/queue_name.h"
#include "services/common/status_macros.h"
#include "services/mq-bridge/transport/memory/memory_subscription.h"

namespace switchboard::bridge::memory {

Broker::Broker(const MemoryTransport::Settings& settings) : store_(settings) {}

absl::Status Broker::DeclareQueue(absl::string_view name,
                                  const QueueOptions& options) {
  SB_RETURN_IF_ERROR(ValidateQueueName(name));
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  store_.SweepIdleQueues(now);
  return store_.Declare(name, options, now);
}

void Broker::Publish(std::vector<OutgoingMessage> batch, PublishCallback done) {
  std::vector<MemorySubscription*> to_run;
  PublishResult result;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    store_.SweepIdleQueues(now);
    // Every queue must exist; otherwise nothing of the batch is published.
    std::vector<Queue*> touched;
    for (const OutgoingMessage& m : batch) {
      for (const std::string& name : m.queues) {
        Queue* queue = store_.Find(name);
        if (queue == nullptr) {
          done(absl::NotFoundError(
              absl::StrCat("queue '", name, "' is not declared")));
          return;
        }
        touched.push_back(queue);
      }
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      OutgoingMessage& m = batch[i];
      for (const std::string& name : m.queues) {
        Queue* queue = store_.Find(name);
        absl::Status s =
            store_.Store(queue, StoredMessage{m.id, m.payload, 0}, now);
        if (!s.ok()) result.refused.push_back(Refusal{i, name, std::move(s)});
      }
    }
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (Queue* queue : touched) DispatchLocked(queue, &to_run);
  }
  done(std::move(result));
  RunDispatchers(to_run);
}

absl::StatusOr<std::unique_ptr<Subscription>> Broker::Subscribe(
    const SubscribeOptions& options, DeliveryHandler handler) {
  if (options.queues.empty()) {
    return absl::InvalidArgumentError("subscribe needs at least one queue");
  }
  if (options.prefetch == 0) {
    return absl::InvalidArgumentError("prefetch must be at least 1");
  }
  std::unique_ptr<MemorySubscription> subscription;
  std::vector<MemorySubscription*> to_run;
  {
    absl::MutexLock lock(&mu_);
    std::vector<Queue*> queues;
    for (const std::string& name : options.queues) {
      Queue* queue = store_.Find(name);
      if (queue == nullptr) {
        return absl::NotFoundError(
            absl::StrCat("queue '", name, "' does not exist"));
      }
      if (std::find(queues.begin(), queues.end(), queue) == queues.end()) {
        queues.push_back(queue);
      }
    }
    subscription = std::make_unique<MemorySubscription>(
        this, std::move(handler), options.prefetch, queues);
    for (Queue* queue : queues) {
      queue->consumers.push_back(subscription.get());
      DispatchLocked(queue, &to_run);
    }
  }
  RunDispatchers(to_run);
  return subscription;
}

absl::StatusOr<std::vector<QueueStats>> Broker::GetQueueStats(
    absl::Span<const std::string> names) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  store_.SweepIdleQueues(now);
  return store_.Stats(names, now);
}

uint64_t Broker::dropped() const {
  absl::MutexLock lock(&mu_);
  return store_.dropped();
}

void Broker::DispatchLocked(Queue* queue,
                            std::vector<MemorySubscription*>* to_run) {
  const size_t n = queue->consumers.size();
  if (n > 0) store_.Expire(queue, absl::Now());
  while (!queue->ready.empty() && n > 0) {
    MemorySubscription* chosen = nullptr;
    for (size_t i = 0; i < n; ++i) {
      MemorySubscription* candidate =
          queue->consumers[(queue->next_consumer + i) % n];
      candidate->AssertLockHeld();
      if (candidate->HasCreditLocked()) {
        chosen = candidate;
        queue->next_consumer = (queue->next_consumer + i + 1) % n;
        break;
      }
    }
    if (chosen == nullptr) return;
    chosen->AssertLockHeld();
    if (chosen->DeliverLocked(queue, store_.TakeForDelivery(queue))) {
      to_run->push_back(chosen);
    }
  }
}

void Broker::RunDispatchers(const std::vector<MemorySubscription*>& to_run) {
  for (MemorySubscription* subscription : to_run) {
    subscription->RunDispatcher();
  }
}

}  // namespace switchboard::bridge::memory
