#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_CONNECTION_SETTINGS_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_CONNECTION_SETTINGS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace switchboard::bridge::rabbitmq {

// One node of a RabbitMQ cluster (or the single broker).
struct BrokerNode {
  std::string host = "127.0.0.1";
  int port = 5672;
};

// Where and how to connect. The password is never logged.
struct ConnectionSettings {
  // The cluster's nodes, at least one; every other setting (credentials,
  // TLS) applies to each of them.
  std::vector<BrokerNode> nodes = {BrokerNode{}};
  std::string vhost = "/";
  std::string user = "guest";
  std::string password = "guest";
  int heartbeat_seconds = 30;
  absl::Duration connect_timeout = absl::Seconds(5);
  // amqps: TLS with the broker's certificate checked against `ca_cert_file`.
  bool tls = false;
  std::string ca_cert_file;
  std::string client_cert_file;
  std::string client_key_file;
  bool verify_hostname = true;

  // "amqp://user@host:port/vhost" (no password) of nodes[node], for logs
  // and errors.
  std::string Describe(size_t node) const;
  // Every node: "amqp://user@host:port/vhost" for one, else
  // "amqp://user@{h1:p1,h2:p2}/vhost".
  std::string DescribeAll() const;
};

// After the connection to `node` is lost, or failed while being set up,
// the next attempt starts with the node after it: with a cluster, the
// connection fails over instead of waiting for that node to come back.
size_t NextNode(const ConnectionSettings& settings, size_t node);

}  // namespace switchboard::bridge::rabbitmq

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_CONNECTION_SETTINGS_H_
