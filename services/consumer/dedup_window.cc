#include "services/consumer/dedup_window.h"

#include <string_view>

#include "services/common/queue_name.h"

namespace switchboard::consumer {

DedupWindow::Key DedupWindow::KeyOf(absl::string_view id) {
  if (id.empty()) return kNoKey;
  // Two independent 64-bit hashes, both unseeded (the same in every
  // process: a DedupStore keeps them); a zero pair is reserved for kNoKey.
  Key key{StableHash(id), std::hash<std::string_view>()(
                              std::string_view(id.data(), id.size()))};
  if (key == kNoKey) key.second = 1;
  return key;
}

DedupWindow::Admission DedupWindow::Admit(Key key) {
  if (key == kNoKey) return Admission::kAdmitted;  // nothing to know it by
  absl::MutexLock lock(&mu_);
  return AdmitLocked(key);
}

void DedupWindow::AdmitAll(absl::Span<const Key> keys,
                           std::vector<Admission>* out) {
  absl::MutexLock lock(&mu_);
  for (const Key& key : keys) out->push_back(AdmitLocked(key));
}

DedupWindow::Admission DedupWindow::AdmitLocked(Key key) {
  if (key == kNoKey) return Admission::kAdmitted;
  if (seen_.contains(key)) return Admission::kSeen;
  return in_flight_.try_emplace(key, 1).second ? Admission::kAdmitted
                                               : Admission::kInFlight;
}

void DedupWindow::Done(Key key) {
  if (key == kNoKey) return;
  absl::MutexLock lock(&mu_);
  DoneLocked(key);
}

void DedupWindow::DoneAll(absl::Span<const Key> keys) {
  absl::MutexLock lock(&mu_);
  for (const Key& key : keys) DoneLocked(key);
}

void DedupWindow::ReleaseAll(absl::Span<const Key> keys) {
  absl::MutexLock lock(&mu_);
  for (const Key& key : keys) in_flight_.erase(key);
}

void DedupWindow::DoneLocked(Key key) {
  if (key == kNoKey) return;
  in_flight_.erase(key);
  // One probe of seen_ (it is large and mostly out of cache).
  if (!seen_.insert(key).second) return;
  if (store_ != nullptr) store_->Append(queue_, key);
  ForgetOldestLocked(key);
}

void DedupWindow::Preload(const std::vector<Key>& keys) {
  absl::MutexLock lock(&mu_);
  for (const Key& key : keys) RememberLocked(key);
}

void DedupWindow::RememberLocked(Key key) {
  if (!seen_.insert(key).second) return;
  ForgetOldestLocked(key);
}

void DedupWindow::ForgetOldestLocked(Key key) {
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

void SettledKeys::Apply() {
  size_t i = 0;
  while (i < entries_.size()) {
    const Entry& first = entries_[i];
    run_.clear();
    size_t end = i;
    for (; end < entries_.size() && entries_[end].window == first.window &&
           entries_[end].release == first.release;
         ++end) {
      run_.push_back(entries_[end].key);
    }
    if (first.release) {
      first.window->ReleaseAll(run_);
    } else {
      first.window->DoneAll(run_);
    }
    i = end;
  }
  entries_.clear();
}

DedupWindows::DedupWindows(size_t capacity, std::unique_ptr<DedupStore> store)
    : capacity_(capacity), store_(std::move(store)) {
  if (store_ != nullptr) loaded_ = store_->Loaded();
}

DedupWindow* DedupWindows::For(const std::string& queue) {
  if (capacity_ == 0) return nullptr;
  absl::MutexLock lock(&mu_);
  auto& window = windows_[queue];
  if (window == nullptr) {
    window = std::make_unique<DedupWindow>(capacity_, store_.get(), queue);
    if (auto it = loaded_.find(queue); it != loaded_.end()) {
      window->Preload(it->second);
      loaded_.erase(it);
    }
  }
  return window.get();
}

}  // namespace switchboard::consumer
