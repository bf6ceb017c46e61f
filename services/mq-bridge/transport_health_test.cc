#include "services/mq-bridge/transport_health.h"

#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

namespace switchboard::bridge {
namespace {

const absl::Status kUnreachable = absl::UnavailableError("broker down");

TEST(TransportHealthTest, CallsThatFailOrTimeOutMakeItUnhealthy) {
  TransportHealth health(absl::Seconds(10));
  EXPECT_TRUE(health.Healthy(absl::Now()));

  // A call in flight is fine until it has waited the timeout.
  uint64_t call = health.Begin();
  EXPECT_TRUE(health.Healthy(absl::Now()));
  EXPECT_FALSE(health.Healthy(absl::Now() + absl::Seconds(11)));
  health.End(call, absl::OkStatus(), /*answered=*/true);
  EXPECT_TRUE(health.Healthy(absl::Now() + absl::Seconds(11)));

  // UNAVAILABLE until a call the backend answered.
  health.End(health.Begin(), kUnreachable, /*answered=*/true);
  EXPECT_FALSE(health.Healthy(absl::Now()));
  health.End(health.Begin(), absl::OkStatus(), /*answered=*/false);
  EXPECT_FALSE(health.Healthy(absl::Now())) << "answered from memory";
  health.End(health.Begin(), absl::NotFoundError("no queue x"),
             /*answered=*/true);
  EXPECT_TRUE(health.Healthy(absl::Now())) << "the backend answered";

  // A driver that stopped waiting for its backend did not hear from it.
  health.End(health.Begin(), absl::DeadlineExceededError("no answer in 5s"),
             /*answered=*/true);
  EXPECT_FALSE(health.Healthy(absl::Now()));
}

TEST(TransportHealthTest, ResetForgetsTheOldTransport) {
  TransportHealth health(absl::Seconds(10));
  uint64_t stuck = health.Begin();
  uint64_t failing = health.Begin();
  health.Reset();
  EXPECT_TRUE(health.Healthy(absl::Now() + absl::Minutes(1)));
  health.End(failing, kUnreachable, /*answered=*/true);
  EXPECT_TRUE(health.Healthy(absl::Now()));
  health.End(stuck, absl::OkStatus(), /*answered=*/true);
  EXPECT_TRUE(health.Healthy(absl::Now()));
}

// What the watcher reported, in order.
class Reports {
 public:
  void Add(bool healthy) {
    absl::MutexLock lock(&mu_);
    reports_.push_back(healthy);
  }
  // Waits (bounded, generously) for the n-th report.
  std::vector<bool> WaitFor(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return reports_.size() >= n;
    };
    mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(60));
    return reports_;
  }

 private:
  absl::Mutex mu_;
  std::vector<bool> reports_ ABSL_GUARDED_BY(mu_);
};

TEST(TransportHealthTest, TheWatcherReportsEachChangeIncludingATimeout) {
  TransportHealth health(absl::Milliseconds(200));
  Reports reports;
  health.StartWatching([&](bool healthy) { reports.Add(healthy); });
  EXPECT_EQ(reports.WaitFor(1), std::vector<bool>({true}));

  health.End(health.Begin(), kUnreachable, /*answered=*/true);
  EXPECT_EQ(reports.WaitFor(2), std::vector<bool>({true, false}));
  health.End(health.Begin(), absl::OkStatus(), /*answered=*/true);
  EXPECT_EQ(reports.WaitFor(3), std::vector<bool>({true, false, true}));

  // Nothing ends this call: the watcher notices by itself once it has
  // waited the timeout, and again when it ends.
  uint64_t stuck = health.Begin();
  EXPECT_EQ(reports.WaitFor(4), std::vector<bool>({true, false, true, false}));
  health.End(stuck, absl::OkStatus(), /*answered=*/true);
  EXPECT_EQ(reports.WaitFor(5),
            std::vector<bool>({true, false, true, false, true}));
  health.StopWatching();
}

}  // namespace
}  // namespace switchboard::bridge
