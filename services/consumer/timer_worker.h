#ifndef SWITCHBOARD_SERVICES_CONSUMER_TIMER_WORKER_H_
#define SWITCHBOARD_SERVICES_CONSUMER_TIMER_WORKER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace switchboard::consumer {

// Something with deadlines: the worker calls Fire once the earliest one it
// asked for has come.
class TimedTarget {
 public:
  virtual ~TimedTarget() = default;
  // Handles everything due at `now`; returns when it is next due
  // (InfiniteFuture for never). Runs on the worker's thread: must not
  // block for long.
  virtual absl::Time Fire(absl::Time now) = 0;
};

// One owned thread that runs deadlines, so that gRPC callback reactors
// never wait: they Schedule, and the worker calls the target back. Holds at
// most one entry per target (its earliest), so memory is bounded by the
// number of live targets, not by how often they reschedule. The clock is
// injected: tests advance a ManualClock and Sync instead of sleeping.
// Thread-safe.
class TimerWorker {
 public:
  using Clock = std::function<absl::Time()>;

  // `clock` null: absl::Now.
  explicit TimerWorker(Clock clock = nullptr);
  // Stops the thread; targets are not called after it returns.
  ~TimerWorker();
  TimerWorker(const TimerWorker&) = delete;
  TimerWorker& operator=(const TimerWorker&) = delete;

  absl::Time Now() const { return clock_(); }

  // Calls `target` at `at` or soon after, unless it is gone by then. An
  // earlier entry of the same target stands (Fire says when it is next
  // due); a later one is replaced.
  void Schedule(std::weak_ptr<TimedTarget> target, absl::Time at);

  // Makes the worker look at the clock again (a ManualClock moved) and
  // waits until it has fired every target due by then. For tests.
  void Sync();

 private:
  struct Entry {
    absl::Time at;
    std::weak_ptr<TimedTarget> target;
  };

  void Run();

  const Clock clock_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  // Bumped by Schedule and Sync: the worker looks again.
  uint64_t wakes_ ABSL_GUARDED_BY(mu_) = 0;
  // The last `wakes_` after which nothing due was left.
  uint64_t idle_at_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<const TimedTarget*, Entry> entries_ ABSL_GUARDED_BY(mu_);
  absl::btree_set<std::pair<absl::Time, const TimedTarget*>> order_
      ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// A clock that moves only when told to. Thread-safe.
class ManualClock {
 public:
  explicit ManualClock(absl::Time start = absl::Now()) : now_(start) {}
  absl::Time Now() {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }
  TimerWorker::Clock AsClock() {
    return [this] { return Now(); };
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard::consumer

#endif  // SWITCHBOARD_SERVICES_CONSUMER_TIMER_WORKER_H_
