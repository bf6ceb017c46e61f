#include "services/broadcaster/queue_budget.h"

#include <vector>

#include "absl/strings/str_cat.h"

namespace switchboard::broadcaster {

absl::Status QueueBudget::Admit(const std::string& queue, absl::Time now) {
  const int64_t now_ns = absl::ToUnixNanos(now);
  {
    absl::ReaderMutexLock lock(&mu_);
    if (limits_.max_queues == 0) return absl::OkStatus();
    auto it = last_used_.find(queue);
    if (it != last_used_.end()) {
      it->second.store(now_ns, std::memory_order_relaxed);
      return absl::OkStatus();
    }
  }
  absl::MutexLock lock(&mu_);
  if (last_used_.contains(queue)) return absl::OkStatus();
  if (last_used_.size() >= limits_.max_queues && ForgetIdleLocked(now) == 0) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "routing.max_dynamic_queues (", limits_.max_queues,
        ") reached: the event would create queue '", queue,
        "', and no known app, link or region queue has been idle for ",
        absl::FormatDuration(limits_.idle),
        " (routing.dynamic_queue_idle); too many distinct sources, links or "
        "regions"));
  }
  last_used_[queue].store(now_ns, std::memory_order_relaxed);
  return absl::OkStatus();
}

size_t QueueBudget::ForgetIdleLocked(absl::Time now) {
  const int64_t cutoff = absl::ToUnixNanos(now - limits_.idle);
  std::vector<std::string> idle;
  for (const auto& [name, used] : last_used_) {
    if (used.load(std::memory_order_relaxed) <= cutoff) idle.push_back(name);
  }
  for (const std::string& name : idle) last_used_.erase(name);
  return idle.size();
}

void QueueBudget::SetLimits(Limits limits) {
  absl::MutexLock lock(&mu_);
  limits_ = limits;
}

size_t QueueBudget::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return last_used_.size();
}

}  // namespace switchboard::broadcaster
