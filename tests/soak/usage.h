#ifndef SWITCHBOARD_TESTS_SOAK_USAGE_H_
#define SWITCHBOARD_TESTS_SOAK_USAGE_H_

// What a service process uses, read from /proc, for the soaks.

#include <sys/types.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "tests/testing/cluster.h"

namespace switchboard::testing {

struct Usage {
  int64_t rss_kib = 0;
  int64_t fds = 0;
  int64_t threads = 0;
};

// RSS, open fds and threads of `pid`.
Usage Measure(pid_t pid);

// The three services of `c`, by name.
std::vector<std::pair<const char*, Process*>> Services(Cluster& c);

// One line per service of `c`: "<when> <service> rss .. fds .. threads ..".
void Print(const char* when, Cluster& c);

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_SOAK_USAGE_H_
