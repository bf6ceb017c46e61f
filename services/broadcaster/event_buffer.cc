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

EventBuffer::EventBuffer(Limits limits, Confirmations* confirmations)
    : confirmations_(confirmations), limits_(limits) {}

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
                         absl::Span<const size_t> group_ends,
                         absl::Span<const uint64_t> tokens) {
  std::vector<uint64_t> dropped_tokens;
  size_t accepted =
      PushCollectingDropped(events, group_ends, tokens, &dropped_tokens);
  if (!dropped_tokens.empty() && confirmations_ != nullptr) {
    confirmations_->Lose(
        dropped_tokens,
        absl::ResourceExhaustedError(
            "dropped from the broadcaster's full buffer (buffer.overflow "
            "drop_oldest) before the bridge confirmed it"));
  }
  return accepted;
}

size_t EventBuffer::PushCollectingDropped(
    std::vector<RoutedEvent>& events, absl::Span<const size_t> group_ends,
    absl::Span<const uint64_t> tokens, std::vector<uint64_t>* dropped_tokens) {
  absl::MutexLock lock(&mu_);
  size_t accepted = 0;
  size_t group = 0;
  while (accepted < events.size()) {
    const size_t end = group_ends.empty() ? accepted + 1 : group_ends[group++];
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
        bytes_ -= Cost(waiting_.front().event);
        ++dropped_;
        if (waiting_.front().token != 0) {
          dropped_tokens->push_back(waiting_.front().token);
        }
        waiting_.pop_front();
      }
    }
    if (!fits()) break;
    events_ += count;
    bytes_ += cost;
    for (size_t i = accepted; i < end; ++i) {
      waiting_.push_back(
          Entry{std::move(events[i]), tokens.empty() ? 0 : tokens[i]});
    }
    accepted = end;
  }
  return accepted;
}

bool EventBuffer::Take(size_t max_events, size_t max_bytes, absl::Duration wait,
                       std::vector<RoutedEvent>* out,
                       std::vector<uint64_t>* tokens) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !waiting_.empty() || closed_;
  };
  mu_.AwaitWithTimeout(absl::Condition(&ready), wait);
  if (waiting_.empty()) return !closed_;
  size_t bytes = 0;
  const size_t first = out->size();
  while (!waiting_.empty() && out->size() - first < max_events &&
         (out->size() == first ||
          bytes + Cost(waiting_.front().event) <= max_bytes)) {
    bytes += Cost(waiting_.front().event);
    out->push_back(std::move(waiting_.front().event));
    if (tokens != nullptr) tokens->push_back(waiting_.front().token);
    waiting_.pop_front();
  }
  return true;
}

void EventBuffer::Release(uint64_t events, uint64_t bytes,
                          absl::Span<const uint64_t> tokens) {
  {
    absl::MutexLock lock(&mu_);
    events_ -= events;
    bytes_ -= bytes;
  }
  if (confirmations_ != nullptr) confirmations_->Confirm(tokens);
}

void EventBuffer::Return(std::vector<RoutedEvent> events,
                         std::vector<uint64_t> tokens) {
  absl::MutexLock lock(&mu_);
  for (size_t i = events.size(); i-- > 0;) {
    waiting_.push_front(
        Entry{std::move(events[i]), tokens.empty() ? 0 : tokens[i]});
  }
}

void EventBuffer::Discard(uint64_t events, uint64_t bytes,
                          absl::Span<const uint64_t> tokens,
                          const absl::Status& why) {
  {
    absl::MutexLock lock(&mu_);
    events_ -= events;
    bytes_ -= bytes;
    dropped_ += events;
  }
  if (confirmations_ != nullptr) confirmations_->Lose(tokens, why);
}

void EventBuffer::LoseTokens(absl::Span<const uint64_t> tokens,
                             const absl::Status& why) {
  if (confirmations_ != nullptr) confirmations_->Lose(tokens, why);
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
