#include "services/mq-bridge/transport/rabbitmq/connection_settings.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace switchboard::bridge::rabbitmq {
namespace {

std::string HostPort(const BrokerNode& node) {
  // An IPv6 literal is bracketed, as in a URL.
  const bool v6 = node.host.find(':') != std::string::npos;
  return absl::StrCat(v6 ? "[" : "", node.host, v6 ? "]" : "", ":", node.port);
}

}  // namespace

std::string ConnectionSettings::Describe(size_t node) const {
  return absl::StrCat(tls ? "amqps" : "amqp", "://", user, "@",
                      HostPort(nodes.at(node)),
                      vhost == "/" ? "/" : "/" + vhost);
}

std::string ConnectionSettings::DescribeAll() const {
  if (nodes.size() == 1) return Describe(0);
  std::vector<std::string> all;
  for (const BrokerNode& node : nodes) all.push_back(HostPort(node));
  return absl::StrCat(tls ? "amqps" : "amqp", "://", user, "@{",
                      absl::StrJoin(all, ","), "}",
                      vhost == "/" ? "/" : "/" + vhost);
}

size_t NextNode(const ConnectionSettings& settings, size_t node) {
  return (node + 1) % settings.nodes.size();
}

}  // namespace switchboard::bridge::rabbitmq
