// What the benchmark's runs share (tests/bench/e2e_bench.cc and its
// baselines): the clock, the CPU accounting, the window of batches in
// flight and a run's result with its latency percentiles.
#ifndef SWITCHBOARD_TESTS_BENCH_BENCH_COMMON_H_
#define SWITCHBOARD_TESTS_BENCH_BENCH_COMMON_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace switchboard::bench {

// The wall clock in nanoseconds since the Unix epoch: what producers stamp
// on events and latencies are measured against (one clock for every
// process on the machine). Thread-safe.
int64_t NowNanos();

// ---- CPU accounting ----
//
// Throughput on a small machine is noisy from run to run; where the CPU goes
// per event is not. On 2 cores the broker competes with everything else, so
// CPU our processes take is throughput the broker does not get.

// CPU seconds (user + system) of this process and each of its descendants,
// summed by the group they belong to: "broker" (the Erlang VM and its
// helpers), "bench" (this process: the raw clients, or the gRPC producer and
// subscriber), "relay" (the raw relay baseline's processes), "perf" (the
// profiler of --profile), or the service's name. Read from /proc at the
// moment of the call; thread-safe.
std::map<std::string, double> CpuByGroup();

// Prints (stdout) the CPU each group took per 1000 events between two
// readings of CpuByGroup, as one "  CPU per 1000 events: ..." line, the
// services' summed as "switchboard". Prints nothing if `events` <= 0.
void PrintCpu(const std::map<std::string, double>& before,
              const std::map<std::string, double>& after, int events);

// Acquire a slot of a window of in-flight batches; released by answers.
// Thread-safe: the writer acquires, the answers' reader releases.
class Window {
 public:
  explicit Window(int size) : free_(size) {}

  // Blocks until a slot is free and takes it.
  void Acquire() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* free) { return *free > 0; }, &free_));
    --free_;
  }
  // Frees a slot (an answer came).
  void Release() {
    absl::MutexLock lock(&mu_);
    ++free_;
  }
  // No answer will come any more (the stream ended): Acquire stops waiting.
  void Close() {
    absl::MutexLock lock(&mu_);
    free_ = 1 << 30;
  }

 private:
  absl::Mutex mu_;
  int free_;
};

// One measured run: events received, its duration and the events'
// latencies (milliseconds). A plain value.
struct Result {
  int received = 0;
  double seconds = 0;
  double p50_ms = 0;
  double p90_ms = 0;
  double p99_ms = 0;
  double p999_ms = 0;
  double max_ms = 0;

  // "p50 0.42 ms, p90 ..., max ..." for the benchmark's lines.
  std::string Percentiles() const;
};

// Sets r's percentiles from `latencies` (nanoseconds; sorted here, in
// place); all 0 when it is empty. Leaves r's other fields alone.
void SetPercentiles(std::vector<int64_t>& latencies, Result& r);

// Paced sending: sleeps until the `sent`-th event of a run that started at
// `start` (NowNanos) is due at `rate` events per second; 0 never waits.
void WaitForTurn(int64_t start, int sent, int rate);

// Events in the next batch: paced (`rate` > 0), rate/1000 so that a batch
// goes every millisecond, else `batch`; at most `remaining`.
int NextBatchSize(int rate, int batch, int remaining);

}  // namespace switchboard::bench

#endif  // SWITCHBOARD_TESTS_BENCH_BENCH_COMMON_H_
