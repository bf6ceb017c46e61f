#ifndef SWITCHBOARD_TESTS_FUZZ_FUZZ_CHECK_H_
#define SWITCHBOARD_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

// An invariant of a fuzz target: when it does not hold, the input is a
// finding. Aborts, which libFuzzer reports as a crash and saves the input.
#define SB_FUZZ_CHECK(cond, ...)                                    \
  do {                                                              \
    if (!(cond)) {                                                  \
      std::fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, \
                   __LINE__, #cond);                                \
      std::fprintf(stderr, __VA_ARGS__);                            \
      std::fprintf(stderr, "\n");                                   \
      std::abort();                                                 \
    }                                                               \
  } while (0)

#endif  // SWITCHBOARD_TESTS_FUZZ_FUZZ_CHECK_H_
