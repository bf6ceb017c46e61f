#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_CONFORMANCE_TRANSPORT_CONFORMANCE_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_CONFORMANCE_TRANSPORT_CONFORMANCE_H_

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "gtest/gtest.h"
#include "services/mq-bridge/transport/transport.h"

namespace switchboard::bridge::testing {

// One driver under test. `make` returns a fresh, connected transport; tests
// name their queues with a per-test prefix, so drivers backed by a shared
// broker need no clean-up between tests.
struct TransportUnderTest {
  std::string name;
  std::function<std::unique_ptr<Transport>()> make;
};

inline std::ostream& operator<<(std::ostream& os, const TransportUnderTest& t) {
  return os << t.name;
}

// The contract of Transport (transport.h), as tests. A driver's test file
// instantiates it:
//   INSTANTIATE_TEST_SUITE_P(Memory, TransportConformanceTest,
//                            ::testing::Values(TransportUnderTest{...}));
// Tests of a guarantee a driver's Capabilities declare absent are skipped,
// and only those.
class TransportConformanceTest
    : public ::testing::TestWithParam<TransportUnderTest> {};

}  // namespace switchboard::bridge::testing

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_CONFORMANCE_TRANSPORT_CONFORMANCE_H_
