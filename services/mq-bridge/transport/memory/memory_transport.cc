#include "services/mq-bridge/transport/memory/memory_transport.h"

#include <algorithm>
#include <map>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "services/common/logging.h"
#include "services/common/queue_name.h"
#include "services/common/status.h"
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
      for (Queue* q : queues_) {
        auto& c = q->consumers;
        c.erase(std::remove(c.begin(), c.end(), this), c.end());
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
    return Settle(tags, /*requeue=*/false);
  }

  absl::Status Nack(absl::Span<const uint64_t> tags, bool requeue) override {
    return Settle(tags, requeue);
  }

 private:
  friend class MemoryTransport;

  bool HasCreditLocked() const { return unsettled_ < prefetch_; }

  // The unsettled delivery with `tag`, or null.
  Unacked* FindLocked(uint64_t tag) {
    if (tag < first_tag_ || tag >= next_tag_) return nullptr;
    Unacked& entry = window_[tag - first_tag_];
    return entry.settled ? nullptr : &entry;
  }

  // Records a delivery; tags are handed out in order, so the window is a
  // deque indexed by tag (no allocation per delivery).
  uint64_t AddLocked(Queue* queue, Stored message) {
    window_.push_back(Unacked{queue, std::move(message), false});
    ++unsettled_;
    return next_tag_++;
  }

  void SettleLocked(Unacked* entry) {
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

  // Ack or nack-drop (requeue false) or nack-requeue, all or nothing.
  absl::Status Settle(absl::Span<const uint64_t> tags, bool requeue) {
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

  std::map<Queue*, std::vector<Stored>> TakeUnackedLocked() {
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
  // Guarded by transport_->mu_. Deliveries of tags [first_tag_, next_tag_);
  // pending (not yet handed to the handler) ones are unacked too.
  std::deque<Unacked> window_;
  uint64_t first_tag_ = 1;
  uint64_t next_tag_ = 1;
  size_t unsettled_ = 0;
  std::vector<Delivery> pending_;
  bool dispatching_ = false;
  bool closed_ = false;
};

absl::StatusOr<std::unique_ptr<Transport>> MemoryTransport::Create(
    const ConfigNode& config) {
  Settings settings;
  SB_RETURN_IF_ERROR(config.Get("max_queue_depth", &settings.max_queue_depth));
  SB_RETURN_IF_ERROR(config.Get("max_total_bytes", &settings.max_total_bytes));
  SB_RETURN_IF_ERROR(config.CheckAllKeysKnown());
  if (settings.max_queue_depth == 0) {
    return config.Error("max_queue_depth", "must be at least 1");
  }
  if (settings.max_total_bytes == 0) {
    return config.Error("max_total_bytes", "must be at least 1");
  }
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
  return caps;
}

absl::Status MemoryTransport::DeclareQueue(absl::string_view name,
                                           const QueueOptions& options) {
  SB_RETURN_IF_ERROR(ValidateQueueName(name));
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = queues_.try_emplace(name);
  if (inserted) {
    it->second = std::make_unique<Queue>();
    it->second->name = std::string(name);
    it->second->options = options;
    Logger("bridge.memory")
        ->debug("declared queue {}{}", std::string(name),
                options.last_value ? " (last-value)" : "");
    return absl::OkStatus();
  }
  if (!(it->second->options == options)) {
    return absl::FailedPreconditionError(
        absl::StrCat("queue '", name, "' exists with last_value=",
                     it->second->options.last_value ? "true" : "false",
                     "; it cannot be redeclared with other options"));
  }
  return absl::OkStatus();
}

void MemoryTransport::Publish(std::vector<OutgoingMessage> batch,
                              PublishCallback done) {
  std::vector<MemorySubscription*> to_run;
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    // Check the whole batch first so that a failed batch publishes nothing.
    absl::flat_hash_map<Queue*, uint64_t> added;
    uint64_t added_bytes = 0;
    for (const OutgoingMessage& m : batch) {
      for (const std::string& name : m.queues) {
        auto it = queues_.find(name);
        if (it == queues_.end()) {
          status = absl::NotFoundError(
              absl::StrCat("queue '", name, "' is not declared"));
          break;
        }
        ++added[it->second.get()];
        added_bytes += m.payload->size();
      }
      if (!status.ok()) break;
    }
    const bool reject = settings_.overflow == Overflow::kReject;
    for (const auto& [queue, count] : added) {
      if (!status.ok() || !reject) break;
      if (queue->options.last_value) continue;
      uint64_t depth = queue->ready.size() + queue->unacked;
      if (depth + count > settings_.max_queue_depth) {
        status = absl::ResourceExhaustedError(
            absl::StrCat("queue '", queue->name, "' holds ", depth,
                         " messages; the limit is ", settings_.max_queue_depth,
                         " (transport.memory.max_queue_depth)"));
      }
    }
    if (status.ok() && reject &&
        total_bytes_ + added_bytes > settings_.max_total_bytes) {
      status = absl::ResourceExhaustedError(absl::StrCat(
          "the memory transport holds ", total_bytes_, " bytes; the limit is ",
          settings_.max_total_bytes, " (transport.memory.max_total_bytes)"));
    }
    if (status.ok()) {
      for (OutgoingMessage& m : batch) {
        for (const std::string& name : m.queues) {
          Queue* queue = queues_.find(name)->second.get();
          if (queue->options.last_value) {
            for (const Stored& old : queue->ready) DropLocked(old);
            queue->ready.clear();
          } else if (!reject && !MakeRoomLocked(queue, m.payload->size())) {
            ++dropped_;
            continue;
          }
          queue->ready.push_back(Stored{m.id, m.payload, 0});
          total_bytes_ += m.payload->size();
        }
      }
      for (const auto& [queue, count] : added) DispatchLocked(queue, &to_run);
    }
  }
  done(status);
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
  std::vector<QueueStats> stats;
  auto add = [&stats](const Queue& q) {
    stats.push_back(QueueStats{q.name, q.ready.size(), q.unacked,
                               static_cast<uint32_t>(q.consumers.size()),
                               q.options.last_value});
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
  while (!queue->ready.empty() && n > 0) {
    MemorySubscription* chosen = nullptr;
    for (size_t i = 0; i < n; ++i) {
      MemorySubscription* candidate =
          queue->consumers[(queue->next_consumer + i) % n];
      if (candidate->HasCreditLocked()) {
        chosen = candidate;
        queue->next_consumer = (queue->next_consumer + i + 1) % n;
        break;
      }
    }
    if (chosen == nullptr) return;
    Stored message = std::move(queue->ready.front());
    queue->ready.pop_front();
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
  if (queue->options.last_value) {
    // A newer value supersedes whatever comes back; with none, only the
    // newest of those coming back is kept.
    if (!queue->ready.empty()) {
      for (const Stored& m : messages) DropLocked(m);
      return;
    }
    for (size_t i = 0; i + 1 < messages.size(); ++i) DropLocked(messages[i]);
    queue->ready.push_front(std::move(messages.back()));
    return;
  }
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    queue->ready.push_front(std::move(*it));
  }
}

void MemoryTransport::DropLocked(const Stored& message) {
  total_bytes_ -= message.payload->size();
}

bool MemoryTransport::MakeRoomLocked(Queue* queue, uint64_t bytes) {
  while (queue->ready.size() + queue->unacked >= settings_.max_queue_depth ||
         total_bytes_ + bytes > settings_.max_total_bytes) {
    // Unacked messages belong to a subscriber: only ready ones can go.
    if (queue->ready.empty()) return false;
    DropLocked(queue->ready.front());
    queue->ready.pop_front();
    ++dropped_;
  }
  return true;
}

uint64_t MemoryTransport::dropped() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

SB_REGISTER_TRANSPORT("memory", MemoryTransport::Create);

}  // namespace switchboard::bridge
