#ifndef SWITCHBOARD_TESTS_TESTING_RABBITMQ_SERVER_H_
#define SWITCHBOARD_TESTS_TESTING_RABBITMQ_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "tests/testing/process.h"

namespace switchboard::testing {

// A private rabbitmq-server for one test binary: its own node name, AMQP and
// distribution ports, data directory and cookie, so tests never touch (or
// depend on) a broker of the machine. Stopped and deleted on destruction.
class RabbitMqServer {
 public:
  // Starts the broker and waits until it accepts AMQP connections (about
  // 6 s on a 2-core machine).
  static absl::StatusOr<std::unique_ptr<RabbitMqServer>> Start();
  ~RabbitMqServer();

  int amqp_port() const { return amqp_port_; }
  const std::string& node() const { return node_; }

  // Stops the broker (as a crash would: SIGKILL) or starts it again on the
  // same ports and data, for fault tests.
  void Kill();
  absl::Status Restart();

  // Runs rabbitmqctl against this node; returns its output.
  absl::StatusOr<std::string> Ctl(const std::vector<std::string>& args);

 private:
  RabbitMqServer() = default;
  absl::Status Launch();

  std::string dir_;
  std::string node_;
  int amqp_port_ = 0;
  int dist_port_ = 0;
  std::unique_ptr<Process> process_;
};

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_RABBITMQ_SERVER_H_
