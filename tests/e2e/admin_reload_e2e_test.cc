// Admin/Reload under a flood, through a real broadcaster process: one
// reload runs at a time on one worker, the others are refused at once with
// ABORTED (no thread per call, nothing queued), and SIGTERM is not held up
// by reloads that were asked for.
#include <signal.h>

#include <fstream>
#include <iostream>
#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster.h"

namespace switchboard::testing {
namespace {

// The process's thread count, from /proc/PID/status; -1 if unreadable.
int Threads(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "Threads:")) {
      int n = -1;
      return absl::SimpleAtoi(absl::StripAsciiWhitespace(rest), &n) ? n : -1;
    }
  }
  return -1;
}

TEST(AdminReloadEndToEndTest, AFloodOfReloadsIsBoundedAndSigtermWins) {
  auto cluster = Cluster::Start({});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  Process& broadcaster = (*cluster)->broadcaster();
  const int threads_before = Threads(broadcaster.pid());
  ASSERT_GT(threads_before, 0);

  constexpr int kCalls = 500;
  auto channel = grpc::CreateChannel((*cluster)->broadcaster_address(),
                                     grpc::InsecureChannelCredentials());
  auto stub = switchboard::v1::Admin::NewStub(channel);
  struct Call {
    grpc::ClientContext context;
    switchboard::v1::ReloadRequest request;
    switchboard::v1::ReloadResponse response;
  };
  std::vector<std::unique_ptr<Call>> calls;
  absl::Mutex mu;
  int done = 0;
  int max_threads = threads_before;
  std::map<grpc::StatusCode, int> codes;
  std::string other;
  for (int i = 0; i < kCalls; ++i) {
    auto& call = calls.emplace_back(std::make_unique<Call>());
    call->context.set_deadline(
        absl::ToChronoTime(absl::Now() + absl::Minutes(5)));
    stub->async()->Reload(
        &call->context, &call->request, &call->response,
        [&, pid = broadcaster.pid()](grpc::Status status) {
          // Sampled while the flood is being answered.
          const int threads = Threads(pid);
          absl::MutexLock lock(&mu);
          max_threads = std::max(max_threads, threads);
          ++codes[status.error_code()];
          if (status.error_code() != grpc::StatusCode::OK &&
              status.error_code() != grpc::StatusCode::ABORTED) {
            other = status.error_message();
          }
          ++done;
        });
  }
  {
    absl::MutexLock lock(&mu);
    auto all_done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return done == kCalls;
    };
    ASSERT_TRUE(
        mu.AwaitWithTimeout(absl::Condition(&all_done), absl::Minutes(5)))
        << done << " of " << kCalls << " answered";
    std::cerr << "threads before " << threads_before << ", at most "
              << max_threads << " while answering; OK "
              << codes[grpc::StatusCode::OK] << ", ABORTED "
              << codes[grpc::StatusCode::ABORTED] << "\n";
    EXPECT_EQ(codes[grpc::StatusCode::OK] + codes[grpc::StatusCode::ABORTED],
              kCalls)
        << other;
    EXPECT_GE(codes[grpc::StatusCode::OK], 1);
    EXPECT_GE(codes[grpc::StatusCode::ABORTED], 1);
    // gRPC's own threads may grow a little under the burst; a thread per
    // call (the old behaviour) is hundreds.
    EXPECT_LE(max_threads, threads_before + 32)
        << "threads before: " << threads_before;
  }

  // Another burst, and SIGTERM while it is being answered: the process
  // exits (a reload already running may finish; nothing waits behind it).
  std::vector<std::unique_ptr<Call>> more;
  int more_done = 0;
  for (int i = 0; i < kCalls; ++i) {
    auto& call = more.emplace_back(std::make_unique<Call>());
    call->context.set_deadline(
        absl::ToChronoTime(absl::Now() + absl::Minutes(5)));
    stub->async()->Reload(&call->context, &call->request, &call->response,
                          [&](grpc::Status) {
                            absl::MutexLock lock(&mu);
                            ++more_done;
                          });
  }
  broadcaster.Signal(SIGTERM);
  // Generous: only a process that never exits fails here.
  std::optional<int> exit_code = broadcaster.Wait(absl::Minutes(3));
  ASSERT_TRUE(exit_code.has_value()) << (*cluster)->Log("broadcaster");
  EXPECT_EQ(*exit_code, 0) << (*cluster)->Log("broadcaster");
  // The calls end (the server is gone) before they are destroyed.
  absl::MutexLock lock(&mu);
  auto all_done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return more_done == kCalls;
  };
  mu.Await(absl::Condition(&all_done));
}

}  // namespace
}  // namespace switchboard::testing
