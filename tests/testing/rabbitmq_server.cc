#include "tests/testing/rabbitmq_server.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace switchboard::testing {
namespace {

// The Debian wrapper in /usr/sbin drops to the rabbitmq user, who cannot
// write a test's directory; the scripts behind it run as the caller.
constexpr char kBin[] = "/usr/lib/rabbitmq/bin/";
constexpr absl::Duration kStartTimeout = absl::Seconds(90);

}  // namespace

absl::StatusOr<std::unique_ptr<RabbitMqServer>> RabbitMqServer::Start(
    Options options) {
  absl::Status status;
  auto server = Prepare(options, &status);
  if (!status.ok()) return status;
  if (absl::Status s = server->Launch(); !s.ok()) return s;
  return server;
}

std::unique_ptr<RabbitMqServer> RabbitMqServer::Prepare(const Options& options,
                                                        absl::Status* status) {
  auto server = std::unique_ptr<RabbitMqServer>(new RabbitMqServer());
  server->dir_ = NewTempDir("rabbitmq");
  // Unique per broker: one test binary may run several.
  static int brokers = 0;
  server->node_ =
      absl::StrCat("sbtest", getpid(), "n", ++brokers, "@localhost");
  server->amqp_port_ = PickFreePort();
  server->dist_port_ = PickFreePort();
  mkdir((server->dir_ + "/mnesia").c_str(), 0755);
  mkdir((server->dir_ + "/log").c_str(), 0755);
  WriteFile(server->dir_ + "/enabled_plugins", "[].\n");
  // One cookie for every node of the test binary: nodes of a cluster (and
  // rabbitmqctl, whatever HOME it runs with) must share it.
  std::string cookie = server->dir_ + "/.erlang.cookie";
  WriteFile(cookie, absl::StrCat("SWITCHBOARDTEST", getpid()));
  chmod(cookie.c_str(), 0400);
  if (options.tls) {
    server->tls_port_ = PickFreePort();
    *status = server->MakeCertificates();
    if (!status->ok()) return nullptr;
    const std::string& d = server->dir_;
    WriteFile(
        d + "/rabbitmq.conf",
        absl::StrCat("listeners.ssl.default = ", server->tls_port_,
                     "\nssl_options.cacertfile = ", d, "/ca.pem",
                     "\nssl_options.certfile = ", d, "/server.pem",
                     "\nssl_options.keyfile = ", d, "/server.key",
                     options.mutual_tls
                         ? "\nssl_options.verify = verify_peer"
                           "\nssl_options.fail_if_no_peer_cert = true\n"
                         : "\nssl_options.verify = verify_none"
                           "\nssl_options.fail_if_no_peer_cert = false\n"));
  }
  return server;
}

absl::Status RabbitMqServer::MakeCertificates() {
  WriteFile(dir_ + "/san.cnf", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  const std::vector<std::vector<std::string>> steps = {
      {"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
       dir_ + "/ca.key", "-out", dir_ + "/ca.pem", "-days", "2", "-subj",
       "/CN=switchboard-test-ca"},
      {"req", "-newkey", "rsa:2048", "-nodes", "-keyout", dir_ + "/server.key",
       "-out", dir_ + "/server.csr", "-subj", "/CN=localhost"},
      {"x509", "-req", "-in", dir_ + "/server.csr", "-CA", dir_ + "/ca.pem",
       "-CAkey", dir_ + "/ca.key", "-CAcreateserial", "-out",
       dir_ + "/server.pem", "-days", "2", "-extfile", dir_ + "/san.cnf"},
      // A client of this CA, and one of a CA the broker does not trust.
      {"req", "-newkey", "rsa:2048", "-nodes", "-keyout", dir_ + "/client.key",
       "-out", dir_ + "/client.csr", "-subj", "/CN=switchboard-bridge"},
      {"x509", "-req", "-in", dir_ + "/client.csr", "-CA", dir_ + "/ca.pem",
       "-CAkey", dir_ + "/ca.key", "-CAcreateserial", "-out",
       dir_ + "/client.pem", "-days", "2"},
      {"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
       dir_ + "/stranger.key", "-out", dir_ + "/stranger.pem", "-days", "2",
       "-subj", "/CN=stranger"},
  };
  for (const auto& args : steps) {
    Process::Options o;
    o.stdout_path = dir_ + "/openssl.out";
    o.stderr_path = dir_ + "/openssl.out";
    auto p = Process::Start("/usr/bin/openssl", args, o);
    if (!p.ok()) return p.status();
    if ((*p)->Wait(absl::Seconds(60)) != 0) {
      return absl::InternalError(
          absl::StrCat("openssl failed: ", ReadFile(dir_ + "/openssl.out")));
    }
  }
  return absl::OkStatus();
}

absl::Status RabbitMqServer::Spawn() {
  // The environment is the broker's whole configuration; the children of
  // Process::Start inherit it.
  //
  // An epmd of this test process's own (one port for all its brokers, so a
  // cluster's nodes find each other): a shared epmd on 4369 is started by
  // whichever test's broker came first, and goes when that test ends (its
  // leftover processes are killed), after which rabbitmqctl cannot find
  // the brokers of tests still running ("node ... not running at all").
  static const int epmd_port = PickFreePort();
  setenv("ERL_EPMD_PORT", std::to_string(epmd_port).c_str(), 1);
  setenv("HOME", dir_.c_str(), 1);
  setenv("RABBITMQ_NODENAME", node_.c_str(), 1);
  setenv("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1", 1);
  setenv("RABBITMQ_NODE_PORT", std::to_string(amqp_port_).c_str(), 1);
  setenv("RABBITMQ_DIST_PORT", std::to_string(dist_port_).c_str(), 1);
  setenv("RABBITMQ_MNESIA_BASE", (dir_ + "/mnesia").c_str(), 1);
  setenv("RABBITMQ_LOG_BASE", (dir_ + "/log").c_str(), 1);
  setenv("RABBITMQ_ENABLED_PLUGINS_FILE", (dir_ + "/enabled_plugins").c_str(),
         1);
  setenv("RABBITMQ_PID_FILE", (dir_ + "/pid").c_str(), 1);
  setenv("RABBITMQ_CONFIG_FILE", (dir_ + "/rabbitmq").c_str(), 1);
  Process::Options o;
  o.stdout_path = dir_ + "/server.out";
  o.stderr_path = dir_ + "/server.out";
  auto process = Process::Start(absl::StrCat(kBin, "rabbitmq-server"), {}, o);
  if (!process.ok()) return process.status();
  process_ = *std::move(process);
  return absl::OkStatus();
}

absl::Status RabbitMqServer::Launch(bool spawned) {
  // Two brokers of concurrent test binaries starting together can race for
  // epmd, and the loser's Erlang VM exits at once ("nodistribution"): such
  // a node that died while starting is started again, a few times.
  std::string outputs;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    if (!spawned || attempt > 1) {
      if (absl::Status s = Spawn(); !s.ok()) return s;
    }
    absl::Time deadline = absl::Now() + kStartTimeout;
    while (absl::Now() < deadline) {
      // await_startup fails at once while the node is not yet reachable.
      if (Ctl({"await_startup", "--timeout", "30"}).ok()) {
        return absl::OkStatus();
      }
      if (!process_->running()) break;
      absl::SleepFor(absl::Milliseconds(250));
    }
    absl::StrAppend(&outputs, "attempt ", attempt, ":\n",
                    ReadFile(dir_ + "/server.out"));
    if (process_->running()) break;  // hung, not died: do not retry
    process_.reset();
  }
  return absl::UnavailableError(
      absl::StrCat("rabbitmq-server did not start; its output:\n", outputs));
}

absl::StatusOr<std::string> RabbitMqServer::Ctl(
    const std::vector<std::string>& args) {
  return Cli("rabbitmqctl", args);
}

bool RabbitMqServer::running() const {
  return process_ != nullptr && process_->running();
}

absl::StatusOr<std::string> RabbitMqServer::Cli(
    const std::string& tool, const std::vector<std::string>& args) {
  std::string out = dir_ + "/ctl.out";
  std::remove(out.c_str());
  std::vector<std::string> argv = {"-n", node_};
  argv.insert(argv.end(), args.begin(), args.end());
  Process::Options o;
  o.stdout_path = out;
  o.stderr_path = out;
  auto ctl = Process::Start(absl::StrCat(kBin, tool), argv, o);
  if (!ctl.ok()) return ctl.status();
  std::optional<int> code = (*ctl)->Wait(absl::Seconds(60));
  if (code != 0) {
    return absl::UnavailableError(absl::StrCat(
        tool, " ", absl::StrJoin(args, " "), " failed: ", ReadFile(out)));
  }
  return ReadFile(out);
}

void RabbitMqServer::Kill() {
  // rabbitmq-server is a script; the broker is its Erlang child. Kill the
  // whole node through its pid file.
  std::string pid = ReadFile(dir_ + "/pid");
  if (!pid.empty()) kill(std::stoi(pid), SIGKILL);
  if (process_ != nullptr) {
    process_->Signal(SIGKILL);
    process_->Wait(absl::Seconds(30));
  }
  std::remove((dir_ + "/pid").c_str());
}

absl::Status RabbitMqServer::Restart() {
  Kill();
  return Launch();
}

RabbitMqServer::~RabbitMqServer() {
  if (process_ != nullptr && process_->running()) {
    (void)Ctl({"stop"});
    if (!process_->Wait(absl::Seconds(30)).has_value()) Kill();
  }
}

// ---- RabbitMqCluster ----

absl::StatusOr<std::unique_ptr<RabbitMqCluster>> RabbitMqCluster::Start(
    int nodes) {
  auto cluster = std::unique_ptr<RabbitMqCluster>(new RabbitMqCluster());
  for (int i = 0; i < nodes; ++i) {
    absl::Status status;
    cluster->nodes_.push_back(RabbitMqServer::Prepare({}, &status));
    if (!status.ok()) return status;
    // Spawn() configures through the environment, read when the node's
    // process starts: the nodes are spawned one after the other and then
    // boot at once.
    if (absl::Status s = cluster->nodes_.back()->Spawn(); !s.ok()) return s;
  }
  for (auto& node : cluster->nodes_) {
    if (absl::Status s = node->Launch(/*spawned=*/true); !s.ok()) return s;
  }
  const std::string& seed = cluster->nodes_[0]->node();
  for (int i = 1; i < nodes; ++i) {
    RabbitMqServer& node = *cluster->nodes_[i];
    for (const std::vector<std::string>& step :
         {std::vector<std::string>{"stop_app"},
          std::vector<std::string>{"join_cluster", seed},
          std::vector<std::string>{"start_app"}}) {
      auto done = node.Ctl(step);
      if (!done.ok()) return done.status();
    }
  }
  return cluster;
}

RabbitMqCluster::~RabbitMqCluster() {
  for (auto& node : nodes_) node->Kill();
}

std::string RabbitMqCluster::AmqpAddresses() const {
  std::vector<std::string> addresses;
  for (const auto& node : nodes_) {
    addresses.push_back(absl::StrCat("127.0.0.1:", node->amqp_port()));
  }
  return absl::StrJoin(addresses, ", ");
}

int RabbitMqCluster::NodeWithPort(int port) const {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i]->amqp_port() == port) return static_cast<int>(i);
  }
  return -1;
}

int RabbitMqCluster::NodeNamed(const std::string& name) const {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i]->node() == name) return static_cast<int>(i);
  }
  return -1;
}

absl::StatusOr<std::string> RabbitMqCluster::Ctl(
    const std::vector<std::string>& args) {
  return Cli("rabbitmqctl", args);
}

absl::StatusOr<std::string> RabbitMqCluster::Cli(
    const std::string& tool, const std::vector<std::string>& args) {
  absl::Status last = absl::UnavailableError("no node of the cluster runs");
  for (auto& node : nodes_) {
    if (!node->running()) continue;
    auto out = node->Cli(tool, args);
    if (out.ok()) return out;
    last = out.status();
  }
  return last;
}

absl::StatusOr<std::vector<int>> RabbitMqCluster::NodesWithConnections() {
  // The server side's port of each connection (cluster-wide): the AMQP
  // port, hence the node.
  auto out = Ctl({"list_connections", "port", "--quiet", "--no-table-headers"});
  if (!out.ok()) return out.status();
  std::vector<int> nodes;
  for (absl::string_view line : absl::StrSplit(*out, '\n')) {
    int port = 0;
    if (!absl::SimpleAtoi(line, &port)) continue;
    int node = NodeWithPort(port);
    if (node >= 0 &&
        std::find(nodes.begin(), nodes.end(), node) == nodes.end()) {
      nodes.push_back(node);
    }
  }
  return nodes;
}

namespace {

// The value of `column` (0-based, tab-separated) in the row of
// `rabbitmqctl list_queues name ...` output for `queue`.
absl::StatusOr<std::string> QueueColumn(const std::string& out,
                                        const std::string& queue,
                                        size_t column) {
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    std::vector<std::string> fields = absl::StrSplit(line, '\t');
    if (fields.size() > column && fields[0] == queue) return fields[column];
  }
  return absl::NotFoundError(
      absl::StrCat("queue '", queue, "' not listed:\n", out));
}

}  // namespace

absl::StatusOr<int> RabbitMqCluster::QueueLeader(const std::string& queue) {
  auto out =
      Ctl({"list_queues", "name", "leader", "--quiet", "--no-table-headers"});
  if (!out.ok()) return out.status();
  auto leader = QueueColumn(*out, queue, 1);
  if (!leader.ok()) return leader.status();
  int node = NodeNamed(*leader);
  if (node < 0) {
    return absl::NotFoundError(
        absl::StrCat("queue '", queue, "' has no known leader: ", *leader));
  }
  return node;
}

absl::StatusOr<int> RabbitMqCluster::OnlineMembers(const std::string& queue) {
  auto out =
      Ctl({"list_queues", "name", "online", "--quiet", "--no-table-headers"});
  if (!out.ok()) return out.status();
  auto online = QueueColumn(*out, queue, 1);
  if (!online.ok()) return online.status();
  int n = 0;
  for (const auto& node : nodes_) {
    n += online->find(node->node()) != std::string::npos;
  }
  return n;
}

}  // namespace switchboard::testing
