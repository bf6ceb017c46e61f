#include "tests/testing/eventually.h"

#include "absl/time/clock.h"

namespace switchboard::testing {

bool Eventually(const std::function<bool()>& done, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

::testing::AssertionResult Eventually(
    const std::function<bool()>& done,
    const std::function<std::string()>& describe, absl::Duration timeout) {
  if (Eventually(done, timeout)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "not reached within " << timeout << ": " << describe();
}

}  // namespace switchboard::testing
