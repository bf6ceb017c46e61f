#include "services/broadcaster/event_buffer.h"

#include "absl/strings/str_cat.h"
#include "services/common/logging.h"

namespace switchboard::broadcaster {

using switchboard::v1::RoutedEvent;

absl::StatusOr<OverflowPolicy> ParseOverflowPolicy(const std::string& text) {
  if (text == "reject") return OverflowPolicy::kReject;
  if (text == "drop_oldest") return OverflowPolicy::kDropOldest;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown overflow policy '", text, "' (known: reject, drop_oldest)"));
}

EventBuffer::EventBuffer(Limits limits, Confirmations* confirmations,
                         std::unique_ptr<DiskLog> disk)
    : confirmations_(confirmations), limits_(limits), disk_(std::move(disk)) {
  if (disk_ != nullptr) {
    events_ = disk_->recovery().events;
    bytes_ = disk_->recovery().cost;
  }
}

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

bool EventBuffer::HasWaiting() const {
  return !waiting_.empty() || (disk_ != nullptr && disk_->unread() > 0);
}

bool EventBuffer::PopWaiting(Entry* out) {
  if (!waiting_.empty()) {
    *out = std::move(waiting_.front());
    waiting_.pop_front();
    return true;
  }
  if (disk_ == nullptr) return false;
  DiskLog::Record record;
  absl::StatusOr<bool> read = disk_->Next(&record);
  if (!read.ok()) {
    Logger("broadcaster")->error("{}", std::string(read.status().message()));
    return false;
  }
  if (!*read) return false;
  out->event = std::move(record.event);
  out->ref.seq = record.seq;
  out->ref.token = 0;
  if (auto it = disk_tokens_.find(record.seq); it != disk_tokens_.end()) {
    out->ref.token = it->second;
    disk_tokens_.erase(it);
  }
  return true;
}

void EventBuffer::Settle(absl::Span<const Ref> refs) {
  if (disk_ == nullptr) return;
  for (const Ref& ref : refs) {
    if (ref.seq != 0) disk_->Settle(ref.seq);
  }
}

size_t EventBuffer::PushCollectingDropped(
    std::vector<RoutedEvent>& events, absl::Span<const size_t> group_ends,
    absl::Span<const uint64_t> tokens, std::vector<uint64_t>* dropped_tokens) {
  absl::MutexLock lock(&mu_);
  size_t accepted = 0;
  size_t group = 0;
  disk_error_.clear();
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
      Entry oldest;
      while (!fits() && PopWaiting(&oldest)) {
        --events_;
        bytes_ -= Cost(oldest.event);
        ++dropped_;
        if (oldest.ref.token != 0) dropped_tokens->push_back(oldest.ref.token);
        const Ref refs[] = {oldest.ref};
        Settle(refs);
      }
    }
    if (!fits()) break;
    if (disk_ != nullptr) {
      absl::StatusOr<uint64_t> first =
          disk_->Append(absl::MakeConstSpan(events).subspan(accepted, count));
      if (!first.ok()) {
        disk_error_ = std::string(first.status().message());
        Logger("broadcaster")->error("{}", disk_error_);
        break;
      }
      for (size_t i = accepted; i < end; ++i) {
        const uint64_t token = tokens.empty() ? 0 : tokens[i];
        if (token != 0) disk_tokens_[*first + (i - accepted)] = token;
      }
    } else {
      for (size_t i = accepted; i < end; ++i) {
        waiting_.push_back(
            Entry{std::move(events[i]), Ref{tokens.empty() ? 0 : tokens[i]}});
      }
    }
    events_ += count;
    bytes_ += cost;
    accepted = end;
  }
  if (disk_ != nullptr && accepted > 0) {
    // Before the producer hears "accepted".
    if (absl::Status s = disk_->Commit(); !s.ok()) {
      // Written but maybe not durable: still accepted (a process crash
      // keeps it), and said loudly.
      disk_error_ = std::string(s.message());
      Logger("broadcaster")->error("{}", disk_error_);
    }
  }
  return accepted;
}

bool EventBuffer::Take(size_t max_events, size_t max_bytes, absl::Duration wait,
                       std::vector<RoutedEvent>* out, std::vector<Ref>* refs) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return HasWaiting() || closed_;
  };
  mu_.AwaitWithTimeout(absl::Condition(&ready), wait);
  if (disk_ != nullptr) {
    // fsync: interval is kept even while no producer writes.
    if (absl::Status s = disk_->Commit(); !s.ok()) {
      Logger("broadcaster")->error("{}", std::string(s.message()));
    }
  }
  if (!HasWaiting()) return !closed_;
  size_t bytes = 0;
  const size_t first = out->size();
  Entry entry;
  while (out->size() - first < max_events && PopWaiting(&entry)) {
    const uint64_t cost = Cost(entry.event);
    if (out->size() > first && bytes + cost > max_bytes) {
      // Not this one: back to the front, for the next Take.
      waiting_.push_front(std::move(entry));
      break;
    }
    bytes += cost;
    out->push_back(std::move(entry.event));
    if (refs != nullptr) refs->push_back(entry.ref);
  }
  return true;
}

void EventBuffer::Release(uint64_t events, uint64_t bytes,
                          absl::Span<const Ref> refs) {
  {
    absl::MutexLock lock(&mu_);
    events_ -= events;
    bytes_ -= bytes;
    Settle(refs);
  }
  if (confirmations_ != nullptr) {
    std::vector<uint64_t> tokens;
    for (const Ref& ref : refs) {
      if (ref.token != 0) tokens.push_back(ref.token);
    }
    confirmations_->Confirm(tokens);
  }
}

void EventBuffer::Return(std::vector<RoutedEvent> events,
                         std::vector<Ref> refs) {
  absl::MutexLock lock(&mu_);
  for (size_t i = events.size(); i-- > 0;) {
    waiting_.push_front(
        Entry{std::move(events[i]), refs.empty() ? Ref{} : refs[i]});
  }
}

void EventBuffer::Discard(uint64_t events, uint64_t bytes,
                          absl::Span<const Ref> refs, const absl::Status& why) {
  {
    absl::MutexLock lock(&mu_);
    events_ -= events;
    bytes_ -= bytes;
    dropped_ += events;
    discarded_ += events;
    Settle(refs);
  }
  if (confirmations_ != nullptr) {
    std::vector<uint64_t> tokens;
    for (const Ref& ref : refs) {
      if (ref.token != 0) tokens.push_back(ref.token);
    }
    confirmations_->Lose(tokens, why);
  }
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
  return Stats{events_, bytes_, dropped_, disk_error_, limits_, discarded_};
}

}  // namespace switchboard::broadcaster
