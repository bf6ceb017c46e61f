#include "services/mq-bridge/transport/memory/memory_transport.h"

#include <algorithm>
#include <map>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/common/logging.h"
#include "services/common/queue_name.h"
#include "services/common/status_macros.h"
#include "services/mq-bridge/transport/registry.h"

namespace switchboard::bridge {

class MemoryTransport::MemorySubscription final : public Subscription {
 public:
  struct Unacked {
    Queue* queue;
    Stored message;
    bool settled;
  };

  MemorySubscription(MemoryTransport* transport, DeliveryHandler handler,
                     uint32_t prefetch, std::vector<Queue*> queues)
      : transport_(transport),
        handler_(std::move(handler)),
        prefetch_(prefetch),
        queues_(std::move(queues)) {}

  ~MemorySubscription() override {
    std::vector<MemorySubscription*> to_run;
    {
      absl::MutexLock lock(&transport_->mu_);
      closed_ = true;
      const absl::Time now = absl::Now();
      for (Queue* q : queues_) {
        auto& c = q->consumers;
        c.erase(std::remove(c.begin(), c.end(), this), c.end());
        q->last_used = now;
      }
      // A dispatcher may be inside the handler; it stops at its next look
      // at closed_. Wait for it so the handler is never called after this.
      transport_->mu_.Await(absl::Condition(
          +[](bool* dispatching) { return !*dispatching; }, &dispatching_));
      pending_.clear();
      for (auto& [queue, messages] : TakeUnackedLocked()) {
        transport_->RequeueLocked(queue, std::move(messages));
        transport_->DispatchLocked(queue, &to_run);
      }
    }
    transport_->RunDispatchers(to_run);
  }

  absl::Status Ack(absl::Span<const uint64_t> tags) override {
    return Settle(tags, Outcome::kAck);
  }

  absl::Status Nack(absl::Span<const uint64_t> tags, bool requeue) override {
    return Settle(tags, requeue ? Outcome::kRequeue : Outcome::kReject);
  }

 private:
  friend class MemoryTransport;

  // For MemoryTransport's *Locked methods, which hold their own mu_: the
  // analysis cannot tell that it is this subscription's transport_->mu_.
  void AssertLockHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK(transport_->mu_) {
    transport_->mu_.AssertHeld();
  }

  bool HasCreditLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(transport_->mu_) {
    return unsettled_ < prefetch_;
  }

  // The unsettled delivery with `tag`, or null.
  Unacked* FindLocked(uint64_t tag)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(transport_->mu_) {
    if (tag < first_tag_ || tag >= next_tag_) return nullptr;
    Unacked& entry = window_[tag - first_tag_];
    return entry.settled ? nullptr : &entry;
  }

  // Records a delivery; tags are handed out in order, so the window is a
  // deque indexed by tag (no allocation per delivery).
  uint64_t AddLocked(Queue* queue, Stored message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(transport_->mu_) {
    window_.push_back(Unacked{queue, std::move(message), false});
    ++unsettled_;
    return next_tag_++;
  }

  void SettleLocked(Unacked* entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(transport_->mu_) {
    entry->settled = true;
    entry->message = Stored();  // frees the payload now
    --entry->queue->unacked;
    --unsettled_;
    // Settled entries behind an older unsettled one stay until it settles;
    // each is a few empty words.
    while (!window_.empty() && window_.front().settled) {
      window_.pop_front();
      ++first_tag_;
    }
  }

  enum class Outcome {
    kAck,
    // Back at the head of its queue.
    kRequeue,
    // To the queue's dead-letter queue when it has one, as RabbitMQ
    // dead-letters a reject without requeue; else dropped.
    kReject,
  };
  // Settles `tags`, all or nothing.
  absl::Status Settle(absl::Span<const uint64_t> tags, Outcome outcome) {
    const bool requeue = outcome == Outcome::kRequeue;
    std::vector<MemorySubscription*> to_run;
    {
      absl::MutexLock lock(&transport_->mu_);
      for (uint64_t tag : tags) {
        if (FindLocked(tag) == nullptr) {
          return absl::NotFoundError(absl::StrCat(
              "delivery tag ", tag,
              " is not an unacked delivery of this subscription (already "
              "acked, or never delivered)"));
        }
      }
      std::map<Queue*, std::vector<Stored>> back;
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
          transport_->DropLocked(entry->message);
          if (outcome == Outcome::kReject) {
            transport_->DeadLetterLocked(entry->queue,
                                         std::move(entry->message));
          }
        }
        SettleLocked(entry);
      }
      for (auto& [queue, messages] : back) {
        transport_->RequeueLocked(queue, std::move(messages));
      }
      // Settling frees credit; requeueing adds ready messages.
      for (Queue* queue : queues_) transport_->DispatchLocked(queue, &to_run);
    }
    transport_->RunDispatchers(to_run);
    return absl::OkStatus();
  }

  std::map<Queue*, std::vector<Stored>> TakeUnackedLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(transport_->mu_) {
    std::map<Queue*, std::vector<Stored>> by_queue;
    for (Unacked& entry : window_) {  // in tag order
      if (entry.settled) continue;
      --entry.queue->unacked;
      by_queue[entry.queue].push_back(std::move(entry.message));
    }
    window_.clear();
    unsettled_ = 0;
    return by_queue;
  }

  MemoryTransport* const transport_;
  const DeliveryHandler handler_;
  const uint32_t prefetch_;
  const std::vector<Queue*> queues_;
  // Deliveries of tags [first_tag_, next_tag_); pending (not yet handed to
  // the handler) ones are unacked too.
  std::deque<Unacked> window_ ABSL_GUARDED_BY(transport_->mu_);
  uint64_t first_tag_ ABSL_GUARDED_BY(transport_->mu_) = 1;
  uint64_t next_tag_ ABSL_GUARDED_BY(transport_->mu_) = 1;
  size_t unsettled_ ABSL_GUARDED_BY(transport_->mu_) = 0;
  std::vector<Delivery> pending_ ABSL_GUARDED_BY(transport_->mu_);
  bool dispatching_ ABSL_GUARDED_BY(transport_->mu_) = false;
  bool closed_ ABSL_GUARDED_BY(transport_->mu_) = false;
};

absl::StatusOr<MemoryTransport::Settings> MemoryTransport::ParseSettings(
    const ConfigNode& config) {
  Settings settings;
  SB_RETURN_IF_ERROR(config.Get("max_queue_depth", &settings.max_queue_depth));
  SB_RETURN_IF_ERROR(config.Get("max_total_bytes", &settings.max_total_bytes));
  SB_RETURN_IF_ERROR(config.Get("max_deliveries", &settings.max_deliveries));
  SB_RETURN_IF_ERROR(config.CheckAllKeysKnown());
  if (settings.max_queue_depth == 0) {
    return config.Error("max_queue_depth", "must be at least 1");
  }
  if (settings.max_total_bytes == 0) {
    return config.Error("max_total_bytes", "must be at least 1");
  }
  return settings;
}

absl::StatusOr<std::unique_ptr<Transport>> MemoryTransport::Create(
    const ConfigNode& config) {
  SB_ASSIGN_OR_RETURN(Settings settings, ParseSettings(config));
  return std::make_unique<MemoryTransport>(settings);
}

MemoryTransport::MemoryTransport(Settings settings) : settings_(settings) {}

MemoryTransport::~MemoryTransport() = default;

Capabilities MemoryTransport::capabilities() const {
  Capabilities caps;
  caps.durable = false;
  caps.acks = true;
  caps.last_value = true;
  caps.ordered_requeue = true;
  caps.confirmed_delivery = true;
  caps.queue_limits = true;
  caps.drop_counters = true;
  caps.exact_limits = true;
  caps.max_deliveries = settings_.max_deliveries;
  return caps;
}

namespace {

// The dead-letter queue of `name` (may be a little longer than queue names
// producers can make: kMaxQueueNameLength leaves room for it).
std::string DeadLetterQueue(absl::string_view name) {
  return absl::StrCat("dead.", name);
}

std::string Describe(const QueueOptions& o) {
  return absl::StrCat(
      "last_value=", o.last_value ? "true" : "false",
      ", max_length=", o.limits.max_length, ", max_bytes=", o.limits.max_bytes,
      ", message_ttl=", absl::FormatDuration(o.limits.message_ttl),
      ", expires=", absl::FormatDuration(o.limits.expires),
      ", overflow=", OverflowPolicyName(o.limits.overflow));
}

}  // namespace

MemoryTransport::Queue* MemoryTransport::FindLocked(absl::string_view name) {
  auto it = queues_.find(name);
  return it == queues_.end() ? nullptr : it->second.get();
}

absl::Status MemoryTransport::DeclareQueue(absl::string_view name,
                                           const QueueOptions& options) {
  SB_RETURN_IF_ERROR(ValidateQueueName(name));
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  SweepIdleQueuesLocked(now);
  auto declare =
      [&](absl::string_view queue_name, const QueueOptions& queue_options)
          ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
    auto [it, inserted] = queues_.try_emplace(queue_name);
    if (inserted) {
      it->second = std::make_unique<Queue>();
      it->second->name = std::string(queue_name);
      it->second->options = queue_options;
      it->second->last_used = now;
      Logger("bridge.memory")
          ->debug("declared queue {} ({})", std::string(queue_name),
                  Describe(queue_options));
      return absl::OkStatus();
    }
    Queue& queue = *it->second;
    if (queue.options.last_value == queue_options.last_value &&
        queue.options.limits != queue_options.limits) {
      // This transport's own queues can take new limits in place (they
      // apply to what comes next; nothing held is dropped for them now).
      Logger("bridge.memory")
          ->info("queue {}: limits changed to {}", std::string(queue_name),
                 Describe(queue_options));
      queue.options = queue_options;
    }
    if (!(it->second->options == queue_options)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "queue '", queue_name, "' exists with ",
          Describe(it->second->options), "; it cannot be redeclared with ",
          Describe(queue_options)));
    }
    it->second->last_used = now;
    return absl::OkStatus();
  };
  if (!options.last_value &&
      (options.limits.overflow == OverflowPolicy::kDeadLetter ||
       settings_.max_deliveries > 0)) {
    // Bounded like its queue; what it drops is gone.
    QueueOptions dead;
    dead.limits = options.limits;
    dead.limits.overflow = OverflowPolicy::kDropHead;
    dead.limits.message_ttl = absl::ZeroDuration();
    SB_RETURN_IF_ERROR(declare(DeadLetterQueue(name), dead));
  }
  return declare(name, options);
}

void MemoryTransport::PushReadyLocked(Queue* queue, Stored message,
                                      bool front) {
  queue->ready_bytes += message.payload->size();
  total_bytes_ += message.payload->size();
  if (front) {
    queue->ready.push_front(std::move(message));
  } else {
    queue->ready.push_back(std::move(message));
  }
}

MemoryTransport::Stored MemoryTransport::PopReadyLocked(Queue* queue) {
  Stored message = std::move(queue->ready.front());
  queue->ready.pop_front();
  queue->ready_bytes -= message.payload->size();
  total_bytes_ -= message.payload->size();
  return message;
}

void MemoryTransport::DropHeadLocked(Queue* queue, uint64_t Queue::*counter) {
  Stored message = PopReadyLocked(queue);
  ++(queue->*counter);
  if (queue->options.limits.overflow != OverflowPolicy::kDeadLetter) return;
  DeadLetterLocked(queue, std::move(message));
}

bool MemoryTransport::DeadLetterLocked(Queue* queue, Stored message) {
  Queue* dead = FindLocked(DeadLetterQueue(queue->name));
  if (dead == nullptr) return false;
  message.expires_at = absl::InfiniteFuture();
  message.delivery_count = 0;
  if (!StoreLocked(dead, std::move(message), absl::Now()).ok()) return false;
  ++queue->dead_lettered;
  return true;
}

void MemoryTransport::ExpireLocked(Queue* queue, absl::Time now) {
  if (queue->options.limits.message_ttl <= absl::ZeroDuration()) return;
  while (!queue->ready.empty() && queue->ready.front().expires_at <= now) {
    DropHeadLocked(queue, &Queue::expired);
  }
}

void MemoryTransport::SweepIdleQueuesLocked(absl::Time now) {
  if (now < next_sweep_) return;
  next_sweep_ = now + settings_.expiry_sweep;
  std::vector<std::string> idle;
  for (const auto& [name, queue] : queues_) {
    const absl::Duration expires = queue->options.limits.expires;
    if (expires > absl::ZeroDuration() && queue->consumers.empty() &&
        queue->unacked == 0 && now - queue->last_used >= expires) {
      idle.push_back(name);
    }
  }
  for (const std::string& name : idle) {
    Queue* queue = FindLocked(name);
    Logger("bridge.memory")
        ->info("queue {} unused for {}: deleted with its {} messages", name,
               absl::FormatDuration(queue->options.limits.expires),
               queue->ready.size());
    while (!queue->ready.empty()) PopReadyLocked(queue);
    queues_.erase(name);
  }
}

absl::Status MemoryTransport::StoreLocked(Queue* queue, Stored message,
                                          absl::Time now) {
  const uint64_t size = message.payload->size();
  ExpireLocked(queue, now);
  if (queue->options.last_value) {
    while (!queue->ready.empty()) PopReadyLocked(queue);
    PushReadyLocked(queue, std::move(message), /*front=*/false);
    return absl::OkStatus();
  }
  const QueueLimits& limits = queue->options.limits;
  const bool drops_head = limits.overflow != OverflowPolicy::kRejectPublish;
  auto refuse = [&](std::string why) {
    ++queue->rejected;
    return absl::ResourceExhaustedError(
        absl::StrCat("queue '", queue->name, "' is full: ", why));
  };
  // The queue's own limits, by its overflow policy.
  auto over_limits = [&] {
    return (limits.max_length > 0 &&
            queue->ready.size() + 1 > limits.max_length) ||
           (limits.max_bytes > 0 &&
            queue->ready_bytes + size > limits.max_bytes);
  };
  if (over_limits()) {
    if (!drops_head) {
      return refuse(
          absl::StrCat(queue->ready.size(), " messages, ", queue->ready_bytes,
                       " bytes (max_length ", limits.max_length, ", max_bytes ",
                       limits.max_bytes, ", overflow reject-publish)"));
    }
    while (!queue->ready.empty() && over_limits())
      DropHeadLocked(queue, &Queue::dropped);
    if (over_limits()) {
      return refuse(absl::StrCat("a message of ", size,
                                 " bytes exceeds max_bytes ",
                                 limits.max_bytes));
    }
  }
  // The transport's own bounds.
  auto over_bounds = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return queue->ready.size() + queue->unacked >= settings_.max_queue_depth ||
           total_bytes_ + size > settings_.max_total_bytes;
  };
  if (over_bounds()) {
    if (settings_.overflow == Overflow::kDropOldest || drops_head) {
      while (!queue->ready.empty() && over_bounds()) {
        DropHeadLocked(queue, &Queue::dropped);
        if (settings_.overflow == Overflow::kDropOldest) ++dropped_;
      }
    }
    if (over_bounds()) {
      if (settings_.overflow == Overflow::kDropOldest) {
        ++dropped_;
        ++queue->dropped;
        return absl::OkStatus();  // dropped, as that mode promises
      }
      return refuse(absl::StrCat(
          queue->ready.size() + queue->unacked, " messages of at most ",
          settings_.max_queue_depth,
          " (transport.memory.max_queue_depth), and the transport holds ",
          total_bytes_, " bytes of at most ", settings_.max_total_bytes,
          " (transport.memory.max_total_bytes)"));
    }
  }
  if (limits.message_ttl > absl::ZeroDuration()) {
    message.expires_at = now + limits.message_ttl;
  }
  PushReadyLocked(queue, std::move(message), /*front=*/false);
  return absl::OkStatus();
}

void MemoryTransport::Publish(std::vector<OutgoingMessage> batch,
                              PublishCallback done) {
  std::vector<MemorySubscription*> to_run;
  PublishResult result;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    SweepIdleQueuesLocked(now);
    // Every queue must exist; otherwise nothing of the batch is published.
    std::vector<Queue*> touched;
    for (const OutgoingMessage& m : batch) {
      for (const std::string& name : m.queues) {
        Queue* queue = FindLocked(name);
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
        Queue* queue = FindLocked(name);
        absl::Status s = StoreLocked(queue, Stored{m.id, m.payload, 0}, now);
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

absl::StatusOr<std::unique_ptr<Subscription>> MemoryTransport::Subscribe(
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
      auto it = queues_.find(name);
      if (it == queues_.end()) {
        return absl::NotFoundError(
            absl::StrCat("queue '", name, "' does not exist"));
      }
      if (std::find(queues.begin(), queues.end(), it->second.get()) ==
          queues.end()) {
        queues.push_back(it->second.get());
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

absl::StatusOr<std::vector<QueueStats>> MemoryTransport::GetQueueStats(
    absl::Span<const std::string> names) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  SweepIdleQueuesLocked(now);
  std::vector<QueueStats> stats;
  auto add = [&](Queue& q) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ExpireLocked(&q, now);
    QueueStats s;
    s.name = q.name;
    s.depth = q.ready.size();
    s.unacked = q.unacked;
    s.consumers = static_cast<uint32_t>(q.consumers.size());
    s.last_value = q.options.last_value;
    s.dropped = q.dropped;
    s.rejected = q.rejected;
    s.expired = q.expired;
    s.dead_lettered = q.dead_lettered;
    stats.push_back(std::move(s));
  };
  if (names.empty()) {
    for (const auto& [name, queue] : queues_) add(*queue);
  } else {
    for (const std::string& name : names) {
      auto it = queues_.find(name);
      if (it == queues_.end()) {
        return absl::NotFoundError(
            absl::StrCat("queue '", name, "' does not exist"));
      }
      add(*it->second);
    }
  }
  std::sort(
      stats.begin(), stats.end(),
      [](const QueueStats& a, const QueueStats& b) { return a.name < b.name; });
  stats.erase(std::unique(stats.begin(), stats.end(),
                          [](const QueueStats& a, const QueueStats& b) {
                            return a.name == b.name;
                          }),
              stats.end());
  return stats;
}

void MemoryTransport::DispatchLocked(Queue* queue,
                                     std::vector<MemorySubscription*>* to_run) {
  const size_t n = queue->consumers.size();
  if (n > 0) ExpireLocked(queue, absl::Now());
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
    Stored message = PopReadyLocked(queue);
    // An unacked message still counts toward the transport's bytes.
    total_bytes_ += message.payload->size();
    ++queue->unacked;
    ++message.delivery_count;
    Delivery delivery{0,
                      queue->name,
                      message.id,
                      message.payload,
                      message.delivery_count > 1,
                      message.delivery_count};
    delivery.tag = chosen->AddLocked(queue, std::move(message));
    chosen->pending_.push_back(std::move(delivery));
    if (!chosen->dispatching_) {
      chosen->dispatching_ = true;
      to_run->push_back(chosen);
    }
  }
}

void MemoryTransport::RunDispatchers(
    const std::vector<MemorySubscription*>& to_run) {
  for (MemorySubscription* subscription : to_run) {
    for (;;) {
      std::vector<Delivery> batch;
      {
        absl::MutexLock lock(&mu_);
        subscription->AssertLockHeld();
        if (subscription->closed_ || subscription->pending_.empty()) {
          subscription->dispatching_ = false;
          break;
        }
        batch.swap(subscription->pending_);
      }
      subscription->handler_(std::move(batch));
    }
  }
}

void MemoryTransport::RequeueLocked(Queue* queue,
                                    std::vector<Stored> messages) {
  if (messages.empty()) return;
  // They leave the unacked bytes and come back as ready ones.
  for (const Stored& m : messages) DropLocked(m);
  const uint32_t limit = settings_.max_deliveries;
  if (limit > 0 && !queue->options.last_value) {
    // Delivered `limit` times and never acked: not again (as RabbitMQ's
    // driver does), so a poison message cannot loop forever.
    auto spent = [limit](const Stored& m) { return m.delivery_count >= limit; };
    auto first =
        std::stable_partition(messages.begin(), messages.end(),
                              [&spent](const Stored& m) { return !spent(m); });
    for (auto it = first; it != messages.end(); ++it) {
      Logger("bridge.memory")
          ->warn("event {} from {} failed {} deliveries; moved to {}", it->id,
                 queue->name, limit, DeadLetterQueue(queue->name));
      DeadLetterLocked(queue, std::move(*it));
    }
    messages.erase(first, messages.end());
    if (messages.empty()) return;
  }
  if (queue->options.last_value) {
    // A newer value supersedes whatever comes back; with none, only the
    // newest of those coming back is kept.
    if (queue->ready.empty()) {
      PushReadyLocked(queue, std::move(messages.back()), /*front=*/true);
    }
    return;
  }
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    PushReadyLocked(queue, std::move(*it), /*front=*/true);
  }
}

void MemoryTransport::DropLocked(const Stored& message) {
  total_bytes_ -= message.payload->size();
}

uint64_t MemoryTransport::dropped() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

SB_REGISTER_DEFAULT_TRANSPORT("memory", MemoryTransport::Create,
                              MemoryTransport::ParseSettings);

}  // namespace switchboard::bridge
