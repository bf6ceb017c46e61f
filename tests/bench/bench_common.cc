#include "tests/bench/bench_common.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace switchboard::bench {

int64_t NowNanos() { return absl::GetCurrentTimeNanos(); }

std::map<std::string, double> CpuByGroup() {
  struct Proc {
    int ppid = 0;
    std::string comm;
    double seconds = 0;
  };
  std::map<int, Proc> procs;
  const double ticks = sysconf(_SC_CLK_TCK);
  if (DIR* dir = opendir("/proc")) {
    while (dirent* entry = readdir(dir)) {
      const int pid = std::atoi(entry->d_name);
      if (pid <= 0) continue;
      std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
      std::string line;
      if (!std::getline(in, line)) continue;
      // "pid (comm) state ppid ... utime stime": comm may hold spaces.
      const size_t open = line.find('('), close = line.rfind(')');
      if (open == std::string::npos || close == std::string::npos) continue;
      std::istringstream rest(line.substr(close + 2));
      std::string field;
      std::vector<std::string> fields;
      while (rest >> field) fields.push_back(field);
      if (fields.size() < 13) continue;
      procs[pid] = Proc{
          std::atoi(fields[1].c_str()), line.substr(open + 1, close - open - 1),
          (std::atof(fields[11].c_str()) + std::atof(fields[12].c_str())) /
              ticks};
    }
    closedir(dir);
  }
  std::map<std::string, double> groups;
  const int self = getpid();
  for (const auto& [pid, proc] : procs) {
    // Only this process's own tree.
    int up = pid;
    for (int depth = 0; up != self && up > 1 && depth < 32; ++depth) {
      auto it = procs.find(up);
      up = it == procs.end() ? 0 : it->second.ppid;
    }
    if (up != self) continue;
    std::string group = proc.comm;
    if (pid == self) {
      group = "bench";
    } else if (group == "raw_relay") {
      group = "relay";
    } else if (group != "broadcaster" && group != "mq-bridge" &&
               group != "consumer" && group != "perf") {
      group = "broker";
    }
    groups[group] += proc.seconds;
  }
  return groups;
}

void PrintCpu(const std::map<std::string, double>& before,
              const std::map<std::string, double>& after, int events) {
  if (events <= 0) return;
  std::string line = "  CPU per 1000 events:";
  double services = 0;
  std::string per_service;
  for (const auto& [group, seconds] : after) {
    auto it = before.find(group);
    const double ms = 1000.0 *
                      (seconds - (it == before.end() ? 0 : it->second)) *
                      1000.0 / events;
    if (group != "broadcaster" && group != "mq-bridge" && group != "consumer") {
      // Not switchboard's: broker, bench, relay, perf.
      absl::StrAppend(&line, " ", group, " ", absl::StrFormat("%.1f", ms),
                      " ms,");
    } else {
      services += ms;
      absl::StrAppend(&per_service, per_service.empty() ? "" : ", ", group, " ",
                      absl::StrFormat("%.1f", ms));
    }
  }
  if (per_service.empty()) {
    line.pop_back();
  } else {
    absl::StrAppend(&line, " switchboard ", absl::StrFormat("%.1f", services),
                    " ms (", per_service, ")");
  }
  std::printf("%s\n", line.c_str());
}

std::string Result::Percentiles() const {
  return absl::StrFormat(
      "p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms",
      p50_ms, p90_ms, p99_ms, p999_ms, max_ms);
}

void SetPercentiles(std::vector<int64_t>& latencies, Result& r) {
  std::sort(latencies.begin(), latencies.end());
  auto at = [&](double q) {
    if (latencies.empty()) return 0.0;
    return latencies[std::min(latencies.size() - 1,
                              static_cast<size_t>(q * latencies.size()))] /
           1e6;
  };
  r.p50_ms = at(0.50);
  r.p90_ms = at(0.90);
  r.p99_ms = at(0.99);
  r.p999_ms = at(0.999);
  r.max_ms = at(1.0);
}

void WaitForTurn(int64_t start, int sent, int rate) {
  if (rate <= 0) return;
  const int64_t due = start + int64_t{1000000000} * sent / rate;
  const int64_t wait = due - NowNanos();
  if (wait > 0) absl::SleepFor(absl::Nanoseconds(wait));
}

int NextBatchSize(int rate, int batch, int remaining) {
  return std::min(rate > 0 ? std::max(1, rate / 1000) : batch, remaining);
}

}  // namespace switchboard::bench
