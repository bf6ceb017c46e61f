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
  struct Options {
    // Also listen for amqps, with a server certificate signed by a test CA
    // made for this broker (see ca_cert()).
    bool tls = false;
    // With tls: the broker requires a client certificate signed by the test
    // CA (mutual TLS; see client_cert()).
    bool mutual_tls = false;
  };

  // Starts the broker and waits until it accepts AMQP connections (about
  // 6 s on a 2-core machine).
  static absl::StatusOr<std::unique_ptr<RabbitMqServer>> Start(Options options);
  static absl::StatusOr<std::unique_ptr<RabbitMqServer>> Start() {
    return Start(Options{});
  }
  ~RabbitMqServer();

  int amqp_port() const { return amqp_port_; }
  // With Options::tls: the amqps port, and the CA that signed the broker's
  // certificate (valid for 127.0.0.1 and localhost).
  int tls_port() const { return tls_port_; }
  std::string ca_cert() const { return dir_ + "/ca.pem"; }
  // With Options::tls: a client certificate and key signed by the same CA,
  // and another pair signed by a CA the broker does not know.
  std::string client_cert() const { return dir_ + "/client.pem"; }
  std::string client_key() const { return dir_ + "/client.key"; }
  std::string stranger_cert() const { return dir_ + "/stranger.pem"; }
  std::string stranger_key() const { return dir_ + "/stranger.key"; }
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
  absl::Status MakeCertificates();

  std::string dir_;
  std::string node_;
  int amqp_port_ = 0;
  int dist_port_ = 0;
  int tls_port_ = 0;
  std::unique_ptr<Process> process_;
};

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_RABBITMQ_SERVER_H_
