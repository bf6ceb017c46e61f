#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_ZEROMQ_ZEROMQ_TESTING_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_ZEROMQ_ZEROMQ_TESTING_H_

// Helpers for the zeromq driver's tests over real sockets.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "services/mq-bridge/transport/transport.h"
#include "services/mq-bridge/transport/zeromq/zeromq_transport_impl.h"

namespace switchboard::bridge::zeromq::zmqtest {

// Generous for a loaded 2-core machine; a passing run never waits this
// long.
inline constexpr absl::Duration kWait = absl::Seconds(20);

// A fresh abstract unix socket name: nothing to clean up.
std::string IpcEndpoint();

// Binds any free loopback port; waits up to kWait for publishers.
Settings Loopback();

// Start(), expecting success; nullptr (and a test failure) otherwise.
std::unique_ptr<ZeroMqTransport> MustStart(Settings s);

std::vector<std::string> Ids(const std::vector<Delivery>& deliveries);

// The payload of message `id`, the i-th of its batch. Some payloads are
// large enough to go out without a copy.
std::string PayloadOf(const std::string& id, int i);

// Publishes `ids` to `queue` in one batch; its callback's status
// (DeadlineExceeded if none within kWait).
absl::Status Publish(Transport& t, const std::string& queue,
                     const std::vector<std::string>& ids);

// prefix + from .. prefix + (to - 1).
std::vector<std::string> Numbered(const std::string& prefix, int from, int to);

struct KeyPair {
  std::string public_key;
  std::string secret_key;
};
// A fresh CURVE key pair (Z85).
KeyPair NewKeyPair();

}  // namespace switchboard::bridge::zeromq::zmqtest

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_ZEROMQ_ZEROMQ_TESTING_H_
