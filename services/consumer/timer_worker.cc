#include "services/consumer/timer_worker.h"

#include <vector>

#include "absl/time/clock.h"

namespace switchboard::consumer {

TimerWorker::TimerWorker(Clock clock)
    : clock_(clock != nullptr ? std::move(clock) : [] { return absl::Now(); }) {
  thread_ = std::thread([this] { Run(); });
}

TimerWorker::~TimerWorker() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

void TimerWorker::Schedule(std::weak_ptr<TimedTarget> target, absl::Time at) {
  if (at == absl::InfiniteFuture()) return;
  std::shared_ptr<TimedTarget> alive = target.lock();
  if (alive == nullptr) return;
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = entries_.try_emplace(alive.get(), Entry{at, target});
  if (!inserted) {
    // Another target at the same address, gone, may have left its entry.
    if (it->second.at <= at && !it->second.target.expired()) return;
    order_.erase({it->second.at, alive.get()});
    it->second = Entry{at, std::move(target)};
  }
  order_.insert({at, alive.get()});
  ++wakes_;
}

void TimerWorker::Sync() {
  absl::MutexLock lock(&mu_);
  const uint64_t wake = ++wakes_;
  auto idle = [this, wake]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return idle_at_ >= wake || stop_;
  };
  mu_.Await(absl::Condition(&idle));
}

void TimerWorker::Run() {
  mu_.Lock();
  while (!stop_) {
    const uint64_t wake = wakes_;
    const absl::Time now = clock_();
    std::vector<std::weak_ptr<TimedTarget>> due;
    while (!order_.empty() && order_.begin()->first <= now) {
      auto entry = entries_.find(order_.begin()->second);
      due.push_back(std::move(entry->second.target));
      entries_.erase(entry);
      order_.erase(order_.begin());
    }
    if (!due.empty()) {
      mu_.Unlock();
      for (auto& weak : due) {
        std::shared_ptr<TimedTarget> target = weak.lock();
        if (target == nullptr) continue;
        const absl::Time next = target->Fire(now);
        Schedule(target, next);
      }
      mu_.Lock();
      continue;  // the clock may have moved meanwhile
    }
    idle_at_ = wake;
    auto woken = [this, wake]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stop_ || wakes_ != wake;
    };
    if (order_.empty()) {
      mu_.Await(absl::Condition(&woken));
    } else {
      // Real time; with a ManualClock this only wakes early, and Sync
      // wakes it when the clock moved.
      mu_.AwaitWithTimeout(absl::Condition(&woken),
                           order_.begin()->first - now);
    }
  }
  mu_.Unlock();
}

}  // namespace switchboard::consumer
