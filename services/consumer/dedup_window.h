#ifndef SWITCHBOARD_SERVICES_CONSUMER_DEDUP_WINDOW_H_
#define SWITCHBOARD_SERVICES_CONSUMER_DEDUP_WINDOW_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "services/consumer/dedup_store.h"

namespace switchboard::consumer {

// Which events of one queue an app has already seen, so that copies a
// transport delivers again (a republish after a lost publisher confirm, a
// redelivery after a lost ack) are not shown twice. Remembers the ids of
// the last `capacity` acked events and of every event delivered and not yet
// settled. Thread-safe; shared by all subscriptions of the queue.
//
// Ids are kept as 128-bit hashes, stable across processes (they are what a
// DedupStore writes): no allocation per event on the delivery path, and a
// false match is about as likely as a hardware error.
class DedupWindow {
 public:
  using Key = std::pair<uint64_t, uint64_t>;
  // The key of an empty id: such events are never treated as duplicates.
  static constexpr Key kNoKey{0, 0};
  static Key KeyOf(absl::string_view id);

  // Acked keys are also appended to `store` (under `queue`) when set.
  explicit DedupWindow(size_t capacity, DedupStore* store = nullptr,
                       std::string queue = "")
      : capacity_(capacity), store_(store), queue_(std::move(queue)) {}

  // Remembers keys acked before this process (from a DedupStore), oldest
  // first.
  void Preload(const std::vector<Key>& keys);

  enum class Admission {
    // It may reach the app; it counts as in flight until Done or Release.
    kAdmitted,
    // An app acked it (within the window): a duplicate, to drop.
    kSeen,
    // A subscription holds it unacked now: this copy must wait (it is the
    // only one left if that subscription gives its copy back).
    kInFlight,
  };
  // Whether a delivery of `key` should reach the app.
  Admission Admit(Key key);
  // The app acked (or dropped) it: remember it as seen.
  void Done(Key key);
  // It went back to the queue unacked: its next delivery is admitted.
  void Release(Key key);

  // Admit, Done and Release for many keys under one acquisition of the
  // window's lock (a response's deliveries, a request's acks), each as the
  // single-key call in the order given. AdmitAll appends the verdicts to
  // `out`.
  void AdmitAll(absl::Span<const Key> keys, std::vector<Admission>* out);
  void DoneAll(absl::Span<const Key> keys);
  void ReleaseAll(absl::Span<const Key> keys);

 private:
  Admission AdmitLocked(Key key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DoneLocked(Key key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Under mu_, so a key is seen here and appended to the store together.
  void RememberLocked(Key key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `key` was just added to seen_: remembers its place, and forgets the
  // oldest keys past the capacity.
  void ForgetOldestLocked(Key key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t capacity_;
  DedupStore* const store_;
  const std::string queue_;
  absl::Mutex mu_;
  absl::flat_hash_map<Key, int> in_flight_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<Key> seen_ ABSL_GUARDED_BY(mu_);
  std::deque<Key> order_ ABSL_GUARDED_BY(mu_);
};

// Deliveries settled under a CallHandle's lock, handed to their dedup
// windows together: one lock of a window per run of keys from it, rather
// than one per delivery. Not thread-safe; Apply before the lock that
// guarded the settling is released (the destructor applies what is left).
class SettledKeys {
 public:
  ~SettledKeys() { Apply(); }
  // `release`: DedupWindow::Release, else Done.
  void Add(DedupWindow* window, DedupWindow::Key key, bool release) {
    if (window != nullptr) entries_.push_back({window, key, release});
  }
  void Apply();

 private:
  struct Entry {
    DedupWindow* window;
    DedupWindow::Key key;
    bool release;
  };
  std::vector<Entry> entries_;
  std::vector<DedupWindow::Key> run_;
};

// One DedupWindow per queue, created on first use, remembering what
// `store` (when set) loaded for it. Thread-safe.
class DedupWindows {
 public:
  // `capacity` 0 turns deduplication off (For returns null).
  explicit DedupWindows(size_t capacity,
                        std::unique_ptr<DedupStore> store = nullptr);
  DedupWindow* For(const std::string& queue);
  // Writes the acked keys to the store (if any) before their acks go on.
  absl::Status Flush() { return store_ ? store_->Flush() : absl::OkStatus(); }
  // Null with `dedup.store: memory`.
  DedupStore* store() { return store_.get(); }

 private:
  const size_t capacity_;
  const std::unique_ptr<DedupStore> store_;
  absl::Mutex mu_;
  // What the store loaded, until each queue's window takes it.
  absl::flat_hash_map<std::string, std::vector<DedupWindow::Key>> loaded_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::unique_ptr<DedupWindow>> windows_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard::consumer

#endif  // SWITCHBOARD_SERVICES_CONSUMER_DEDUP_WINDOW_H_
