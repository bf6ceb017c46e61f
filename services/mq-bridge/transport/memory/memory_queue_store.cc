#include "services/mq-bridge/transport/memory/memory_queue_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/common/logging.h"
#include "services/common/status_macros.h"

namespace switchboard::bridge::memory {
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

QueueStore::QueueStore(const MemoryTransport::Settings& settings)
    : settings_(settings) {}

Queue* QueueStore::Find(absl::string_view name) {
  auto it = queues_.find(name);
  return it == queues_.end() ? nullptr : it->second.get();
}

absl::Status QueueStore::Declare(absl::string_view name,
                                 const QueueOptions& options, absl::Time now) {
  if (!options.last_value &&
      (options.limits.overflow == OverflowPolicy::kDeadLetter ||
       settings_.max_deliveries > 0)) {
    // Bounded like its queue; what it drops is gone.
    QueueOptions dead;
    dead.limits = options.limits;
    dead.limits.overflow = OverflowPolicy::kDropHead;
    dead.limits.message_ttl = absl::ZeroDuration();
    SB_RETURN_IF_ERROR(DeclareOne(DeadLetterQueue(name), dead, now));
  }
  return DeclareOne(name, options, now);
}

absl::Status QueueStore::DeclareOne(absl::string_view name,
                                    const QueueOptions& options,
                                    absl::Time now) {
  auto [it, inserted] = queues_.try_emplace(name);
  if (inserted) {
    it->second = std::make_unique<Queue>();
    it->second->name = std::string(name);
    it->second->options = options;
    it->second->last_used = now;
    Logger("bridge.memory")
        ->debug("declared queue {} ({})", std::string(name), Describe(options));
    return absl::OkStatus();
  }
  Queue& queue = *it->second;
  if (queue.options.last_value == options.last_value &&
      queue.options.limits != options.limits) {
    // This transport's own queues can take new limits in place (they
    // apply to what comes next; nothing held is dropped for them now).
    Logger("bridge.memory")
        ->info("queue {}: limits changed to {}", std::string(name),
               Describe(options));
    queue.options = options;
  }
  if (!(queue.options == options)) {
    return absl::FailedPreconditionError(
        absl::StrCat("queue '", name, "' exists with ", Describe(queue.options),
                     "; it cannot be redeclared with ", Describe(options)));
  }
  queue.last_used = now;
  return absl::OkStatus();
}

void QueueStore::PushReady(Queue* queue, StoredMessage message, bool front) {
  queue->ready_bytes += message.payload->size();
  total_bytes_ += message.payload->size();
  if (front) {
    queue->ready.push_front(std::move(message));
  } else {
    queue->ready.push_back(std::move(message));
  }
}

StoredMessage QueueStore::PopReady(Queue* queue) {
  StoredMessage message = std::move(queue->ready.front());
  queue->ready.pop_front();
  queue->ready_bytes -= message.payload->size();
  total_bytes_ -= message.payload->size();
  return message;
}

void QueueStore::DropHead(Queue* queue, uint64_t Queue::*counter) {
  StoredMessage message = PopReady(queue);
  ++(queue->*counter);
  if (queue->options.limits.overflow != OverflowPolicy::kDeadLetter) return;
  DeadLetter(queue, std::move(message));
}

bool QueueStore::DeadLetter(Queue* queue, StoredMessage message) {
  Queue* dead = Find(DeadLetterQueue(queue->name));
  if (dead == nullptr) return false;
  message.expires_at = absl::InfiniteFuture();
  message.delivery_count = 0;
  if (!Store(dead, std::move(message), absl::Now()).ok()) return false;
  ++queue->dead_lettered;
  return true;
}

void QueueStore::Expire(Queue* queue, absl::Time now) {
  if (queue->options.limits.message_ttl <= absl::ZeroDuration()) return;
  while (!queue->ready.empty() && queue->ready.front().expires_at <= now) {
    DropHead(queue, &Queue::expired);
  }
}

void QueueStore::SweepIdleQueues(absl::Time now) {
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
    Queue* queue = Find(name);
    Logger("bridge.memory")
        ->info("queue {} unused for {}: deleted with its {} messages", name,
               absl::FormatDuration(queue->options.limits.expires),
               queue->ready.size());
    while (!queue->ready.empty()) PopReady(queue);
    queues_.erase(name);
  }
}

absl::Status QueueStore::Store(Queue* queue, StoredMessage message,
                               absl::Time now) {
  const uint64_t size = message.payload->size();
  Expire(queue, now);
  if (queue->options.last_value) {
    while (!queue->ready.empty()) PopReady(queue);
    PushReady(queue, std::move(message), /*front=*/false);
    return absl::OkStatus();
  }
  SB_RETURN_IF_ERROR(FitQueueLimits(queue, size));
  SB_ASSIGN_OR_RETURN(const bool fits, FitTransportBounds(queue, size));
  if (!fits) return absl::OkStatus();  // dropped, as kDropOldest promises
  const absl::Duration ttl = queue->options.limits.message_ttl;
  if (ttl > absl::ZeroDuration()) message.expires_at = now + ttl;
  PushReady(queue, std::move(message), /*front=*/false);
  return absl::OkStatus();
}

absl::Status QueueStore::Refuse(Queue* queue, absl::string_view why) {
  ++queue->rejected;
  return absl::ResourceExhaustedError(
      absl::StrCat("queue '", queue->name, "' is full: ", why));
}

absl::Status QueueStore::FitQueueLimits(Queue* queue, uint64_t size) {
  const QueueLimits& limits = queue->options.limits;
  auto over_limits = [&] {
    return (limits.max_length > 0 &&
            queue->ready.size() + 1 > limits.max_length) ||
           (limits.max_bytes > 0 &&
            queue->ready_bytes + size > limits.max_bytes);
  };
  if (!over_limits()) return absl::OkStatus();
  if (limits.overflow == OverflowPolicy::kRejectPublish) {
    return Refuse(
        queue,
        absl::StrCat(queue->ready.size(), " messages, ", queue->ready_bytes,
                     " bytes (max_length ", limits.max_length, ", max_bytes ",
                     limits.max_bytes, ", overflow reject-publish)"));
  }
  while (!queue->ready.empty() && over_limits()) {
    DropHead(queue, &Queue::dropped);
  }
  if (over_limits()) {
    return Refuse(
        queue, absl::StrCat("a message of ", size, " bytes exceeds max_bytes ",
                            limits.max_bytes));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> QueueStore::FitTransportBounds(Queue* queue,
                                                    uint64_t size) {
  const bool drop_oldest =
      settings_.overflow == MemoryTransport::Overflow::kDropOldest;
  // Unless the queue refuses rather than drop (kRejectPublish), it makes
  // room from its own head, as for its own limits.
  const bool drops_head =
      queue->options.limits.overflow != OverflowPolicy::kRejectPublish;
  auto over_bounds = [&] {
    return queue->ready.size() + queue->unacked >= settings_.max_queue_depth ||
           total_bytes_ + size > settings_.max_total_bytes;
  };
  if (!over_bounds()) return true;
  if (drop_oldest || drops_head) {
    while (!queue->ready.empty() && over_bounds()) {
      DropHead(queue, &Queue::dropped);
      if (drop_oldest) ++dropped_;
    }
  }
  if (!over_bounds()) return true;
  if (drop_oldest) {
    ++dropped_;
    ++queue->dropped;
    return false;
  }
  return Refuse(
      queue,
      absl::StrCat(
          queue->ready.size() + queue->unacked, " messages of at most ",
          settings_.max_queue_depth,
          " (transport.memory.max_queue_depth), and the transport holds ",
          total_bytes_, " bytes of at most ", settings_.max_total_bytes,
          " (transport.memory.max_total_bytes)"));
}

StoredMessage QueueStore::TakeForDelivery(Queue* queue) {
  StoredMessage message = PopReady(queue);
  // An unacked message still counts toward the transport's bytes.
  total_bytes_ += message.payload->size();
  ++queue->unacked;
  ++message.delivery_count;
  return message;
}

void QueueStore::Requeue(Queue* queue, std::vector<StoredMessage> messages) {
  if (messages.empty()) return;
  // They leave the unacked bytes and come back as ready ones.
  for (const StoredMessage& m : messages) Release(m);
  const uint32_t limit = settings_.max_deliveries;
  if (limit > 0 && !queue->options.last_value) {
    // Delivered `limit` times and never acked: not again (as RabbitMQ's
    // driver does), so a poison message cannot loop forever.
    auto spent = [limit](const StoredMessage& m) {
      return m.delivery_count >= limit;
    };
    auto first = std::stable_partition(
        messages.begin(), messages.end(),
        [&spent](const StoredMessage& m) { return !spent(m); });
    for (auto it = first; it != messages.end(); ++it) {
      Logger("bridge.memory")
          ->warn("event {} from {} failed {} deliveries; moved to {}", it->id,
                 queue->name, limit, DeadLetterQueue(queue->name));
      DeadLetter(queue, std::move(*it));
    }
    messages.erase(first, messages.end());
    if (messages.empty()) return;
  }
  if (queue->options.last_value) {
    // A newer value supersedes whatever comes back; with none, only the
    // newest of those coming back is kept.
    if (queue->ready.empty()) {
      PushReady(queue, std::move(messages.back()), /*front=*/true);
    }
    return;
  }
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    PushReady(queue, std::move(*it), /*front=*/true);
  }
}

void QueueStore::Release(const StoredMessage& message) {
  total_bytes_ -= message.payload->size();
}

absl::StatusOr<std::vector<QueueStats>> QueueStore::Stats(
    absl::Span<const std::string> names, absl::Time now) {
  std::vector<QueueStats> stats;
  auto add = [&](Queue& q) {
    Expire(&q, now);
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
      Queue* queue = Find(name);
      if (queue == nullptr) {
        return absl::NotFoundError(
            absl::StrCat("queue '", name, "' does not exist"));
      }
      add(*queue);
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

}  // namespace switchboard::bridge::memory
