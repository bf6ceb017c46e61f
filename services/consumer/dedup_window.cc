#include "services/consumer/dedup_window.h"

namespace switchboard::consumer {

bool DedupWindow::Admit(const std::string& id) {
  if (id.empty()) return true;  // nothing to recognise it by
  absl::MutexLock lock(&mu_);
  if (seen_.contains(id) || in_flight_.contains(id)) return false;
  in_flight_[id] = 1;
  return true;
}

void DedupWindow::Done(const std::string& id) {
  if (id.empty()) return;
  absl::MutexLock lock(&mu_);
  in_flight_.erase(id);
  if (!seen_.insert(id).second) return;
  order_.push_back(id);
  while (order_.size() > capacity_) {
    seen_.erase(order_.front());
    order_.pop_front();
  }
}

void DedupWindow::Release(const std::string& id) {
  if (id.empty()) return;
  absl::MutexLock lock(&mu_);
  in_flight_.erase(id);
}

DedupWindow* DedupWindows::For(const std::string& queue) {
  if (capacity_ == 0) return nullptr;
  absl::MutexLock lock(&mu_);
  auto& window = windows_[queue];
  if (window == nullptr) window = std::make_unique<DedupWindow>(capacity_);
  return window.get();
}

}  // namespace switchboard::consumer
