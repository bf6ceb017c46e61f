#include "services/consumer/timer_worker.h"

#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

namespace switchboard::consumer {
namespace {

// Records when it was fired and asks for the next of its `times`.
class Recorder final : public TimedTarget {
 public:
  explicit Recorder(std::vector<absl::Time> times) : times_(std::move(times)) {}

  absl::Time Fire(absl::Time now) override {
    absl::MutexLock lock(&mu_);
    fired_.push_back(now);
    while (!times_.empty() && times_.front() <= now)
      times_.erase(times_.begin());
    return times_.empty() ? absl::InfiniteFuture() : times_.front();
  }

  std::vector<absl::Time> fired() {
    absl::MutexLock lock(&mu_);
    return fired_;
  }

 private:
  absl::Mutex mu_;
  std::vector<absl::Time> times_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Time> fired_ ABSL_GUARDED_BY(mu_);
};

TEST(TimerWorkerTest, FiresWhenTheClockReachesTheTimeAndNotBefore) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  ManualClock clock(t0);
  TimerWorker timers(clock.AsClock());
  auto target = std::make_shared<Recorder>(
      std::vector<absl::Time>{t0 + absl::Seconds(10), t0 + absl::Seconds(20)});
  timers.Schedule(target, t0 + absl::Seconds(10));
  timers.Sync();
  EXPECT_TRUE(target->fired().empty());

  clock.Advance(absl::Seconds(9));
  timers.Sync();
  EXPECT_TRUE(target->fired().empty());

  clock.Advance(absl::Seconds(1));
  timers.Sync();
  EXPECT_EQ(target->fired(), std::vector<absl::Time>{t0 + absl::Seconds(10)});

  // Fire asked for t0+20s: the worker calls again then.
  clock.Advance(absl::Seconds(15));
  timers.Sync();
  EXPECT_EQ(target->fired(), (std::vector<absl::Time>{t0 + absl::Seconds(10),
                                                      t0 + absl::Seconds(25)}));
}

TEST(TimerWorkerTest, KeepsOneEntryPerTargetTheEarliest) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  ManualClock clock(t0);
  TimerWorker timers(clock.AsClock());
  auto target = std::make_shared<Recorder>(std::vector<absl::Time>{});
  timers.Schedule(target, t0 + absl::Seconds(30));
  timers.Schedule(target, t0 + absl::Seconds(5));   // earlier: replaces
  timers.Schedule(target, t0 + absl::Seconds(50));  // later: ignored
  clock.Advance(absl::Seconds(5));
  timers.Sync();
  EXPECT_EQ(target->fired().size(), 1u);
  clock.Advance(absl::Seconds(100));
  timers.Sync();
  EXPECT_EQ(target->fired().size(), 1u) << "one entry, fired once";
}

TEST(TimerWorkerTest, AGoneTargetIsNotCalled) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  ManualClock clock(t0);
  TimerWorker timers(clock.AsClock());
  auto target = std::make_shared<Recorder>(std::vector<absl::Time>{});
  std::weak_ptr<Recorder> weak = target;
  timers.Schedule(target, t0 + absl::Seconds(1));
  target.reset();
  clock.Advance(absl::Seconds(2));
  timers.Sync();  // would crash or hang on a dangling target
  EXPECT_TRUE(weak.expired());
}

TEST(TimerWorkerTest, RealClockFires) {
  TimerWorker timers;
  auto target = std::make_shared<Recorder>(std::vector<absl::Time>{});
  timers.Schedule(target, absl::Now());
  timers.Sync();
  EXPECT_EQ(target->fired().size(), 1u);
}

}  // namespace
}  // namespace switchboard::consumer
