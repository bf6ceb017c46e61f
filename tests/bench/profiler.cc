#include "tests/bench/profiler.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <sstream>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace switchboard::bench {
namespace {

constexpr char kPerf[] = "/usr/bin/perf";

// `text`'s non-empty lines, at most `max_lines`, each indented.
std::string Indent(const std::string& text, int max_lines) {
  std::string out;
  std::istringstream in(text);
  int lines = 0;
  for (std::string line; std::getline(in, line) && lines < max_lines;) {
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    absl::StrAppend(&out, "    ", line, "\n");
    ++lines;
  }
  return out;
}

}  // namespace

std::unique_ptr<Profiler> Profiler::Start(
    std::string dir, const std::vector<std::pair<std::string, pid_t>>& pids) {
  if (const char* cwd = std::getenv("BUILD_WORKING_DIRECTORY");
      cwd != nullptr && !dir.empty() && dir[0] != '/') {
    dir = absl::StrCat(cwd, "/", dir);  // as given to `bazel run`
  }
  if (access(kPerf, X_OK) != 0) {
    std::printf(
        "profile: %s not found (Debian: apt-get install linux-perf); "
        "running without profiles\n",
        kPerf);
    return nullptr;
  }
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    std::printf("profile: cannot create %s: %s; running without profiles\n",
                dir.c_str(), error.message().c_str());
    return nullptr;
  }
  auto profiler = std::unique_ptr<Profiler>(new Profiler(dir));
  for (const auto& [name, pid] : pids) {
    Recording r;
    r.name = name;
    r.pid = pid;
    r.data = absl::StrCat(dir, "/", name, ".perf.data");
    r.log = absl::StrCat(dir, "/", name, ".perf.log");
    std::remove(r.log.c_str());
    testing::Process::Options options;
    options.stdout_path = r.log;
    options.stderr_path = r.log;
    auto perf = testing::Process::Start(
        kPerf,
        {"record", "-F", "499", "-g", "--call-graph", "dwarf,16384", "-p",
         absl::StrCat(pid), "-o", r.data},
        options);
    if (!perf.ok()) {
      std::printf("profile: cannot start perf for %s: %s\n", name.c_str(),
                  perf.status().ToString().c_str());
      continue;
    }
    r.perf = *std::move(perf);
    profiler->recordings_.push_back(std::move(r));
  }
  // perf takes a moment to attach, or to fail (perf_event_paranoid).
  absl::SleepFor(absl::Milliseconds(500));
  for (Recording& r : profiler->recordings_) {
    if (!r.perf->running()) {
      std::printf(
          "profile: perf record on %s (pid %d) exited at once with %d "
          "(kernel.perf_event_paranoid = %s); its output:\n%s",
          r.name.c_str(), r.pid, r.perf->Wait(absl::ZeroDuration()).value(),
          std::string(absl::StripAsciiWhitespace(testing::ReadFile(
                          "/proc/sys/kernel/perf_event_paranoid")))
              .c_str(),
          Indent(testing::ReadFile(r.log), 12).c_str());
      r.perf.reset();
    }
  }
  if (std::none_of(profiler->recordings_.begin(), profiler->recordings_.end(),
                   [](const Recording& r) { return r.perf != nullptr; })) {
    std::printf("profile: no perf record running; no profiles\n");
    return nullptr;
  }
  std::printf(
      "profile: perf record (-F 499, dwarf call graphs) on the services "
      "during the saturated pipeline run; perf's CPU slows it down\n");
  return profiler;
}

void Profiler::Stop() {
  for (Recording& r : recordings_) {
    if (r.perf != nullptr) r.perf->Signal(SIGINT);
  }
  for (Recording& r : recordings_) {
    if (r.perf == nullptr) continue;
    if (!r.perf->Wait(absl::Minutes(2)).has_value()) {
      std::printf("profile: perf record on %s did not stop; killed\n",
                  r.name.c_str());
    }
    r.perf.reset();  // kills it if still running
    std::error_code error;
    r.ok = std::filesystem::file_size(r.data, error) > 0 && !error;
    if (!r.ok) {
      std::printf("profile: perf record on %s wrote nothing; its output:\n%s",
                  r.name.c_str(), Indent(testing::ReadFile(r.log), 12).c_str());
    }
  }
}

void Profiler::Report() {
  const std::vector<std::string> report_args = {
      "--no-children", "--sort", "dso,sym", "--percentage",
      "relative",      "-g",     "none",    "--stdio"};
  std::string explore;
  for (const Recording& r : recordings_) {
    if (!r.ok) continue;
    const std::string text = absl::StrCat(dir_, "/", r.name, ".report.txt");
    const std::string log = absl::StrCat(dir_, "/", r.name, ".report.log");
    std::remove(text.c_str());
    std::remove(log.c_str());
    testing::Process::Options options;
    options.stdout_path = text;
    options.stderr_path = log;
    std::vector<std::string> args = {"report", "-i", r.data};
    args.insert(args.end(), report_args.begin(), report_args.end());
    auto perf = testing::Process::Start(kPerf, args, options);
    std::optional<int> code;
    if (perf.ok()) code = (*perf)->Wait(absl::Minutes(10));
    if (!code.has_value() || *code != 0) {
      std::printf("profile: perf report on %s failed; its output:\n%s",
                  r.data.c_str(), Indent(testing::ReadFile(log), 12).c_str());
      continue;
    }
    // "# Samples: 1K of event 'cpu-clock:ppp'", then the top lines.
    std::string samples;
    std::vector<std::string> top;
    std::istringstream in(testing::ReadFile(text));
    for (std::string line; std::getline(in, line) && top.size() < 25;) {
      if (absl::StartsWith(line, "# Samples:")) {
        samples = std::string(absl::StripPrefix(line, "# Samples: "));
      }
      if (line.empty() || line[0] == '#') continue;
      top.push_back(line);
    }
    std::printf(
        "profile of %s (pid %d; %s), top of `perf report "
        "--no-children --sort dso,sym`:\n",
        r.name.c_str(), r.pid, samples.c_str());
    for (const std::string& line : top) std::printf("  %s\n", line.c_str());
    absl::StrAppend(&explore, explore.empty() ? "" : ", ", r.data);
  }
  if (explore.empty()) return;
  std::printf(
      "profiles: %s (full reports beside them, <service>.report.txt); "
      "explore with\n  perf report -i %s/<service>.perf.data --no-children "
      "--sort dso,sym\n  (call graphs: -g caller; annotated code: perf "
      "annotate -i FILE SYMBOL)\n",
      explore.c_str(), dir_.c_str());
}

}  // namespace switchboard::bench
