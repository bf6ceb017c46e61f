#include "services/broadcaster/confirmations.h"

#include <utility>

namespace switchboard::broadcaster {

using Ready =
    std::vector<std::pair<Confirmations::Done, std::vector<absl::Status>>>;

uint64_t Confirmations::Reserve(size_t events) {
  absl::MutexLock lock(&mu_);
  const uint64_t base = next_;
  // At least one token, so that every batch has its own base.
  next_ += events == 0 ? 1 : events;
  Waiter& w = waiters_[base];
  w.settled.assign(events, 0);
  w.outcomes.assign(events, absl::OkStatus());
  return base;
}

void Confirmations::Arm(uint64_t base, std::vector<uint32_t> copies,
                        Done done) {
  Ready ready;
  {
    absl::MutexLock lock(&mu_);
    auto it = waiters_.find(base);
    if (it == waiters_.end()) return;
    Waiter& w = it->second;
    w.copies = std::move(copies);
    w.copies.resize(w.settled.size(), 0);
    w.unsettled_events = 0;
    for (size_t i = 0; i < w.copies.size(); ++i) {
      if (w.settled[i] < w.copies[i]) ++w.unsettled_events;
    }
    w.armed = true;
    w.done = std::move(done);
    MaybeComplete(it, &ready);
  }
  Run(ready);
}

void Confirmations::Confirm(absl::Span<const uint64_t> tokens) {
  Ready ready;
  {
    absl::MutexLock lock(&mu_);
    for (uint64_t token : tokens) {
      if (token != 0) Settle(token, nullptr, &ready);
    }
  }
  Run(ready);
}

void Confirmations::Lose(absl::Span<const uint64_t> tokens,
                         const absl::Status& why) {
  Ready ready;
  {
    absl::MutexLock lock(&mu_);
    for (uint64_t token : tokens) {
      if (token != 0) Settle(token, &why, &ready);
    }
  }
  Run(ready);
}

size_t Confirmations::waiting() const {
  absl::MutexLock lock(&mu_);
  return waiters_.size();
}

void Confirmations::Settle(uint64_t token, const absl::Status* why,
                           Ready* ready) {
  auto it = waiters_.upper_bound(token);
  if (it == waiters_.begin()) return;
  --it;
  Waiter& w = it->second;
  const uint64_t i = token - it->first;
  if (i >= w.settled.size()) return;  // a batch already answered
  ++w.settled[i];
  if (why != nullptr && w.outcomes[i].ok()) w.outcomes[i] = *why;
  if (w.armed && w.settled[i] == w.copies[i]) {
    --w.unsettled_events;
    MaybeComplete(it, ready);
  }
}

void Confirmations::MaybeComplete(std::map<uint64_t, Waiter>::iterator it,
                                  Ready* ready) {
  Waiter& w = it->second;
  if (!w.armed || w.unsettled_events > 0) return;
  ready->emplace_back(std::move(w.done), std::move(w.outcomes));
  waiters_.erase(it);
}

void Confirmations::Run(Ready& ready) {
  for (auto& [done, outcomes] : ready) done(std::move(outcomes));
}

}  // namespace switchboard::broadcaster
