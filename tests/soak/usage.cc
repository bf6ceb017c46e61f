#include "tests/soak/usage.h"

#include <dirent.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace switchboard::testing {

Usage Measure(pid_t pid) {
  Usage u;
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    std::vector<std::string> f =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (f.size() < 2) continue;
    if (f[0] == "VmRSS:") (void)absl::SimpleAtoi(f[1], &u.rss_kib);
    if (f[0] == "Threads:") (void)absl::SimpleAtoi(f[1], &u.threads);
  }
  if (DIR* dir = opendir(absl::StrCat("/proc/", pid, "/fd").c_str())) {
    while (dirent* e = readdir(dir)) u.fds += e->d_name[0] != '.';
    closedir(dir);
  }
  return u;
}

std::vector<std::pair<const char*, Process*>> Services(Cluster& c) {
  return {{"bridge", &c.bridge()},
          {"broadcaster", &c.broadcaster()},
          {"consumer", &c.consumer()}};
}

void Print(const char* when, Cluster& c) {
  for (auto [name, p] : Services(c)) {
    Usage u = Measure(p->pid());
    std::printf("%-8s %-12s rss %7ld KiB  fds %6ld  threads %4ld\n", when, name,
                static_cast<long>(u.rss_kib), static_cast<long>(u.fds),
                static_cast<long>(u.threads));
  }
  std::fflush(stdout);
}

}  // namespace switchboard::testing
