// --profile of tests/bench/e2e_bench.cc: `perf record` on the services
// during the saturated pipeline run, and the top of each profile.
#ifndef SWITCHBOARD_TESTS_BENCH_PROFILER_H_
#define SWITCHBOARD_TESTS_BENCH_PROFILER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tests/testing/process.h"

namespace switchboard::bench {

// One `perf record` per profiled process, from Start to Stop; then the top
// of each profile. What fails is said on stdout and skipped: profiling never
// stops the benchmark. Needs /usr/bin/perf (Debian's linux-perf).
//
// Owns its perf processes (killed if still running when it is destroyed);
// not thread-safe: Start, Stop, then Report, from one thread.
class Profiler {
 public:
  // Starts recording each (name, pid) into DIR/<name>.perf.data; null
  // (having said why) when nothing could be started. A relative `dir` is
  // relative to where `bazel run` was started; created if missing.
  static std::unique_ptr<Profiler> Start(
      std::string dir, const std::vector<std::pair<std::string, pid_t>>& pids);

  // Stops the recorders (SIGINT) and waits for them to write their files.
  void Stop();

  // Prints the top of each profile, where the files are and how to
  // explore them. After Stop.
  void Report();

 private:
  struct Recording {
    std::string name;
    pid_t pid = 0;
    std::string data;
    std::string log;
    std::unique_ptr<testing::Process> perf;
    bool ok = false;
  };

  explicit Profiler(std::string dir) : dir_(std::move(dir)) {}

  const std::string dir_;
  std::vector<Recording> recordings_;
};

}  // namespace switchboard::bench

#endif  // SWITCHBOARD_TESTS_BENCH_PROFILER_H_
