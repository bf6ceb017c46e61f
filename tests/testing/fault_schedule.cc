#include "tests/testing/fault_schedule.h"

#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace switchboard::testing {
namespace {

const char* KindName(FaultKind kind) {
  switch (kind) {
    case FaultKind::kKill:
      return "kill -9";
    case FaultKind::kPause:
      return "SIGSTOP";
    case FaultKind::kBlackhole:
      return "blackhole";
    case FaultKind::kCut:
      return "blackhole+reset";
  }
  return "?";
}

}  // namespace

std::string Fault::ToString() const {
  return absl::StrCat("t=+", absl::FormatDuration(at), " ", KindName(kind), " ",
                      target, " for ", absl::FormatDuration(length));
}

std::vector<Fault> RandomFaultSchedule(uint64_t seed,
                                       const FaultScheduleOptions& options) {
  // std::mt19937_64 is specified exactly, so a seed replays anywhere; the
  // draws below use only its raw output for the same reason.
  std::mt19937_64 random(seed);
  auto between = [&](absl::Duration lo, absl::Duration hi) {
    int64_t span = absl::ToInt64Milliseconds(hi - lo);
    return lo + absl::Milliseconds(span <= 0 ? 0 : random() % (span + 1));
  };
  struct Choice {
    FaultKind kind;
    const std::string* target;
  };
  std::vector<Choice> choices;
  for (const auto& p : options.killable)
    choices.push_back({FaultKind::kKill, &p});
  for (const auto& p : options.pausable) {
    choices.push_back({FaultKind::kPause, &p});
  }
  for (const auto& l : options.links) {
    choices.push_back({FaultKind::kBlackhole, &l});
    choices.push_back({FaultKind::kCut, &l});
  }
  std::vector<Fault> schedule;
  if (choices.empty()) return schedule;
  absl::Duration t = between(options.min_gap, options.max_gap);
  while (t < options.duration) {
    const Choice& c = choices[random() % choices.size()];
    Fault fault{t, c.kind, *c.target,
                between(options.min_length, options.max_length)};
    schedule.push_back(fault);
    t += fault.length + between(options.min_gap, options.max_gap);
  }
  for (const std::string& target : options.kill_at_least_once) {
    auto is_kill = [&](const Fault& f) {
      return f.kind == FaultKind::kKill && f.target == target;
    };
    if (std::any_of(schedule.begin(), schedule.end(), is_kill)) continue;
    // Replace a fault of a target killed more than once, or any other.
    std::vector<size_t> spare;
    for (size_t i = 0; i < schedule.size(); ++i) {
      const Fault& f = schedule[i];
      if (f.kind != FaultKind::kKill ||
          std::count_if(schedule.begin(), schedule.end(), [&](const Fault& g) {
            return g.kind == FaultKind::kKill && g.target == f.target;
          }) > 1) {
        spare.push_back(i);
      }
    }
    if (spare.empty()) continue;
    Fault& f = schedule[spare[random() % spare.size()]];
    f.kind = FaultKind::kKill;
    f.target = target;
  }
  return schedule;
}

uint64_t SeedFromEnv(const char* env) {
  uint64_t seed = 0;
  const char* text = std::getenv(env);
  if (text != nullptr && absl::SimpleAtoi(text, &seed)) return seed;
  return std::random_device()() ^
         (static_cast<uint64_t>(std::random_device()()) << 32);
}

absl::Status FaultTargets::Apply(const Fault& fault) {
  auto failed = [&](const std::string& why) {
    return absl::InternalError(absl::StrCat(fault.ToString(), ": ", why));
  };
  if (fault.kind == FaultKind::kBlackhole || fault.kind == FaultKind::kCut) {
    auto it = links_.find(fault.target);
    if (it == links_.end()) return failed("no such link");
    it->second->Blackhole();
    absl::SleepFor(fault.length);
    if (fault.kind == FaultKind::kCut) {
      it->second->Reset();
    } else {
      it->second->Resume();
    }
    return absl::OkStatus();
  }
  auto it = processes_.find(fault.target);
  if (it == processes_.end()) return failed("no such process");
  Process& p = it->second;
  if (fault.kind == FaultKind::kPause) {
    if (!p.signal) return failed("cannot be paused");
    p.signal(SIGSTOP);
    absl::SleepFor(fault.length);
    p.signal(SIGCONT);
    return absl::OkStatus();
  }
  p.kill();
  absl::SleepFor(fault.length);
  if (absl::Status s = p.start(); !s.ok()) {
    return failed(absl::StrCat("restart failed: ", s.ToString()));
  }
  return absl::OkStatus();
}

absl::Status RunFaultSchedule(const std::vector<Fault>& schedule,
                              FaultTargets& targets, std::ostream& log) {
  absl::Time start = absl::Now();
  for (const Fault& fault : schedule) {
    // Pacing between faults is what the schedule is about.
    absl::SleepFor(start + fault.at - absl::Now());
    log << "fault " << fault.ToString() << " (started at +"
        << absl::FormatDuration(
               absl::Trunc(absl::Now() - start, absl::Milliseconds(1)))
        << ")" << std::endl;
    if (absl::Status s = targets.Apply(fault); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace switchboard::testing
