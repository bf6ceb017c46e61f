#ifndef SWITCHBOARD_TESTS_TESTING_FAULT_SCHEDULE_H_
#define SWITCHBOARD_TESTS_TESTING_FAULT_SCHEDULE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "tests/testing/blackhole_proxy.h"

namespace switchboard::testing {

// What a fault does to its target for `length`.
enum class FaultKind {
  kKill,       // kill -9, down for `length`, then started again
  kPause,      // SIGSTOP, SIGCONT after `length`
  kBlackhole,  // a link forwards nothing for `length`, then resumes
  kCut,        // a link forwards nothing for `length`, then is reset
};

struct Fault {
  absl::Duration at;  // from the start of the schedule
  FaultKind kind;
  std::string target;
  absl::Duration length;
  // E.g. "t=+3.2s kill -9 bridge for 450ms".
  std::string ToString() const;
};

struct FaultScheduleOptions {
  absl::Duration duration = absl::Seconds(30);
  // Processes that may be killed, and those that may also be paused.
  std::vector<std::string> killable;
  std::vector<std::string> pausable;
  // Of `killable`: killed at least once in every schedule (a fault drawn
  // for something else is turned into it), if there is room.
  std::vector<std::string> kill_at_least_once;
  // Links (BlackholeProxy) that may be blackholed or cut.
  std::vector<std::string> links;
  // Quiet time between the end of one fault and the next.
  absl::Duration min_gap = absl::Milliseconds(500);
  absl::Duration max_gap = absl::Seconds(2);
  absl::Duration min_length = absl::Milliseconds(100);
  absl::Duration max_length = absl::Seconds(2);
};

// A schedule of faults, one at a time, drawn from `seed` alone: the same
// seed and options give the same schedule.
std::vector<Fault> RandomFaultSchedule(uint64_t seed,
                                       const FaultScheduleOptions& options);

// The seed from environment variable `env` if set (a decimal number),
// else a fresh random one.
uint64_t SeedFromEnv(const char* env);

// What the schedule acts on, by name.
class FaultTargets {
 public:
  struct Process {
    std::function<void()> kill;           // kill -9 and reap
    std::function<absl::Status()> start;  // start again (same port, data)
    std::function<void(int)> signal;      // SIGSTOP/SIGCONT; may be unset
  };
  void AddProcess(const std::string& name, Process process) {
    processes_[name] = std::move(process);
  }
  void AddLink(const std::string& name, BlackholeProxy* proxy) {
    links_[name] = proxy;
  }

  // Applies `fault`, sleeping its length (the schedule's pacing) before
  // undoing it. An error says which fault failed and why.
  absl::Status Apply(const Fault& fault);

 private:
  std::map<std::string, Process> processes_;
  std::map<std::string, BlackholeProxy*> links_;
};

// Runs `schedule` in real time, logging each fault to `log` as it starts.
// Stops at the first fault that fails. Every target is whole again when it
// returns OK.
absl::Status RunFaultSchedule(const std::vector<Fault>& schedule,
                              FaultTargets& targets, std::ostream& log);

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_FAULT_SCHEDULE_H_
