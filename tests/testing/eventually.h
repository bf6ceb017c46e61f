#ifndef SWITCHBOARD_TESTS_TESTING_EVENTUALLY_H_
#define SWITCHBOARD_TESTS_TESTING_EVENTUALLY_H_

// Waiting in tests for state that other threads or processes reach
// asynchronously: the one polling helper of the tree. Tests never sleep for
// a fixed time instead; they poll for the state they need, bounded by a
// generous timeout that only a failure reaches.

#include <functional>
#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace switchboard::testing {

// How long a test waits for anything before it fails: far longer than any
// healthy run needs, on a loaded 2-core machine too.
inline constexpr absl::Duration kWait = absl::Seconds(30);

// Polls `done` until it returns true or `timeout` passes; whether it did.
bool Eventually(const std::function<bool()>& done,
                absl::Duration timeout = kWait);

// The same as an assertion: on time-out the failure carries what
// `describe` says about the last state seen.
::testing::AssertionResult Eventually(
    const std::function<bool()>& done,
    const std::function<std::string()>& describe,
    absl::Duration timeout = kWait);

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_EVENTUALLY_H_
