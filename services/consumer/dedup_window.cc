#include "services/consumer/dedup_window.h"

#include <string_view>

#include "absl/hash/hash.h"

namespace switchboard::consumer {

DedupWindow::Key DedupWindow::KeyOf(absl::string_view id) {
  if (id.empty()) return kNoKey;
  // Two independent 64-bit hashes; a zero pair is reserved for kNoKey.
  Key key{absl::HashOf(id), std::hash<std::string_view>()(
                                std::string_view(id.data(), id.size()))};
  if (key == kNoKey) key.second = 1;
  return key;
}

bool DedupWindow::Admit(Key key) {
  if (key == kNoKey) return true;  // nothing to recognise it by
  absl::MutexLock lock(&mu_);
  if (seen_.contains(key)) return false;
  return in_flight_.try_emplace(key, 1).second;
}

void DedupWindow::Done(Key key) {
  if (key == kNoKey) return;
  absl::MutexLock lock(&mu_);
  in_flight_.erase(key);
  if (!seen_.insert(key).second) return;
  order_.push_back(key);
  while (order_.size() > capacity_) {
    seen_.erase(order_.front());
    order_.pop_front();
  }
}

void DedupWindow::Release(Key key) {
  if (key == kNoKey) return;
  absl::MutexLock lock(&mu_);
  in_flight_.erase(key);
}

DedupWindow* DedupWindows::For(const std::string& queue) {
  if (capacity_ == 0) return nullptr;
  absl::MutexLock lock(&mu_);
  auto& window = windows_[queue];
  if (window == nullptr) window = std::make_unique<DedupWindow>(capacity_);
  return window.get();
}

}  // namespace switchboard::consumer
