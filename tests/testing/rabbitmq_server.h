#ifndef SWITCHBOARD_TESTS_TESTING_RABBITMQ_SERVER_H_
#define SWITCHBOARD_TESTS_TESTING_RABBITMQ_SERVER_H_

#include <memory>
#include <string>
#include <vector>

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
  // Runs another of the broker's CLI tools (e.g. "rabbitmq-queues")
  // against this node.
  absl::StatusOr<std::string> Cli(const std::string& tool,
                                  const std::vector<std::string>& args);

  bool running() const;

 private:
  friend class RabbitMqCluster;
  RabbitMqServer() = default;
  // A broker with its directories and ports, not started.
  static std::unique_ptr<RabbitMqServer> Prepare(const Options& options,
                                                 absl::Status* status);
  // Starts the node's process (the environment is its configuration).
  absl::Status Spawn();
  // Starts the node (unless `spawned`: Spawn() was called) and waits until
  // it accepts AMQP connections.
  absl::Status Launch(bool spawned = false);
  absl::Status MakeCertificates();

  std::string dir_;
  std::string node_;
  int amqp_port_ = 0;
  int dist_port_ = 0;
  int tls_port_ = 0;
  std::unique_ptr<Process> process_;
};

// A RabbitMQ cluster of private nodes on loopback: each a RabbitMqServer
// (its own node name, AMQP and distribution ports, data and log
// directories) sharing one Erlang cookie, joined with `rabbitmqctl
// join_cluster` to the first. Stopped and deleted on destruction.
class RabbitMqCluster {
 public:
  // Starts `nodes` nodes together (booting them at once saves a few
  // seconds per node on 2 cores) and joins them into one cluster.
  static absl::StatusOr<std::unique_ptr<RabbitMqCluster>> Start(int nodes);
  // Kills every node: nothing of a test's cluster is worth a clean stop.
  ~RabbitMqCluster();

  int size() const { return static_cast<int>(nodes_.size()); }
  RabbitMqServer& node(int i) { return *nodes_.at(i); }
  // "127.0.0.1:p1, 127.0.0.1:p2, ..." for transport.rabbitmq.nodes.
  std::string AmqpAddresses() const;
  // The index of the node whose AMQP port `port` is; -1 if none.
  int NodeWithPort(int port) const;

  // rabbitmqctl (or another CLI tool) against any running node.
  absl::StatusOr<std::string> Ctl(const std::vector<std::string>& args);
  absl::StatusOr<std::string> Cli(const std::string& tool,
                                  const std::vector<std::string>& args);

  // The indices of the nodes clients are connected to (AMQP), each once.
  absl::StatusOr<std::vector<int>> NodesWithConnections();
  // The index of the node leading quorum queue `queue`.
  absl::StatusOr<int> QueueLeader(const std::string& queue);
  // How many members of quorum queue `queue` are online.
  absl::StatusOr<int> OnlineMembers(const std::string& queue);

 private:
  RabbitMqCluster() = default;
  // The index of the node named `name` ("sbtest...@localhost"); -1 if none.
  int NodeNamed(const std::string& name) const;

  std::vector<std::unique_ptr<RabbitMqServer>> nodes_;
};

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_RABBITMQ_SERVER_H_
