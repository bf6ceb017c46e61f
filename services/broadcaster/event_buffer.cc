#include "services/broadcaster/event_buffer.h"

#include "absl/strings/str_cat.h"

namespace switchboard::broadcaster {

using switchboard::v1::RoutedEvent;

absl::StatusOr<OverflowPolicy> ParseOverflowPolicy(const std::string& text) {
  if (text == "reject") return OverflowPolicy::kReject;
  if (text == "drop_oldest") return OverflowPolicy::kDropOldest;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown overflow policy '", text, "' (known: reject, drop_oldest)"));
}

EventBuffer::EventBuffer(Limits limits) : limits_(limits) {}

void EventBuffer::SetLimits(Limits limits) {
  absl::MutexLock lock(&mu_);
  limits_ = limits;
}

uint64_t EventBuffer::Cost(const RoutedEvent& event) {
  uint64_t cost = event.event().size() + event.id().size() + 32;
  for (const std::string& q : event.queues()) cost += q.size() + 8;
  return cost;
}

size_t EventBuffer::Push(std::vector<RoutedEvent>& events,
                         absl::Span<const size_t> group_ends) {
  absl::MutexLock lock(&mu_);
  size_t accepted = 0;
  size_t group = 0;
  while (accepted < events.size()) {
    const size_t end =
        group_ends.empty() ? accepted + 1 : group_ends[group++];
    uint64_t cost = 0;
    for (size_t i = accepted; i < end; ++i) cost += Cost(events[i]);
    const uint64_t count = end - accepted;
    auto fits = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return events_ + count <= limits_.max_events &&
             bytes_ + cost <= limits_.max_bytes;
    };
    if (limits_.overflow == OverflowPolicy::kDropOldest) {
      // Only events not yet handed to the bridge can make room.
      while (!fits() && !waiting_.empty()) {
        --events_;
        bytes_ -= Cost(waiting_.front());
        ++dropped_;
        waiting_.pop_front();
      }
    }
    if (!fits()) break;
    events_ += count;
    bytes_ += cost;
    for (size_t i = accepted; i < end; ++i) {
      waiting_.push_back(std::move(events[i]));
    }
    accepted = end;
  }
  return accepted;
}

bool EventBuffer::Take(size_t max_events, size_t max_bytes, absl::Duration wait,
                       std::vector<RoutedEvent>* out) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !waiting_.empty() || closed_;
  };
  mu_.AwaitWithTimeout(absl::Condition(&ready), wait);
  if (waiting_.empty()) return !closed_;
  size_t bytes = 0;
  while (!waiting_.empty() && out->size() < max_events &&
         (out->empty() || bytes + Cost(waiting_.front()) <= max_bytes)) {
    bytes += Cost(waiting_.front());
    out->push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
  return true;
}

void EventBuffer::Release(uint64_t events, uint64_t bytes) {
  absl::MutexLock lock(&mu_);
  events_ -= events;
  bytes_ -= bytes;
}

void EventBuffer::Return(std::vector<RoutedEvent> events) {
  absl::MutexLock lock(&mu_);
  for (auto it = events.rbegin(); it != events.rend(); ++it) {
    waiting_.push_front(std::move(*it));
  }
}

void EventBuffer::Discard(uint64_t events, uint64_t bytes) {
  absl::MutexLock lock(&mu_);
  events_ -= events;
  bytes_ -= bytes;
  dropped_ += events;
}

bool EventBuffer::WaitEmpty(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto empty = [this]()
                   ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return events_ == 0; };
  return mu_.AwaitWithTimeout(absl::Condition(&empty), timeout);
}

void EventBuffer::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

EventBuffer::Stats EventBuffer::stats() const {
  absl::MutexLock lock(&mu_);
  return Stats{events_, bytes_, dropped_};
}

}  // namespace switchboard::broadcaster
