// transport.rabbitmq settings: read and validated once, at start and on
// each reload.
#include "services/mq-bridge/transport/rabbitmq/rabbitmq_settings.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "services/common/status_macros.h"

namespace switchboard::bridge::rabbitmq {

absl::StatusOr<BrokerNode> ParseBrokerNode(absl::string_view text) {
  const std::string original(text);
  BrokerNode node;
  absl::string_view port = "5672";
  if (absl::ConsumePrefix(&text, "[")) {
    // An IPv6 literal: [addr]:port.
    const size_t end = text.find(']');
    if (end == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("'[", text, "': an IPv6 address needs its ']'"));
    }
    node.host = std::string(text.substr(0, end));
    text.remove_prefix(end + 1);
    if (!text.empty() && !absl::ConsumePrefix(&text, ":")) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", text, "' after ']': expected :port"));
    }
    if (!text.empty()) port = text;
  } else {
    const size_t colon = text.rfind(':');
    node.host = std::string(text.substr(0, colon));
    if (colon != absl::string_view::npos) port = text.substr(colon + 1);
    if (node.host.find(':') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", original, "': write an IPv6 address as [address]:port"));
    }
  }
  uint32_t number = 0;
  if (node.host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", original, "': expected host:port, the host is empty"));
  }
  if (!absl::SimpleAtoi(port, &number) || number == 0 || number > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "node '", node.host, "': port '", port, "' is not 1 to 65535"));
  }
  node.port = static_cast<int>(number);
  return node;
}

namespace {

// The `tls` section.
absl::Status ReadTls(const ConfigNode& tls, ConnectionSettings* c) {
  SB_RETURN_IF_ERROR(tls.Get("enabled", &c->tls));
  SB_RETURN_IF_ERROR(tls.Get("ca_cert", &c->ca_cert_file));
  SB_RETURN_IF_ERROR(tls.Get("client_cert", &c->client_cert_file));
  SB_RETURN_IF_ERROR(tls.Get("client_key", &c->client_key_file));
  SB_RETURN_IF_ERROR(tls.Get("verify_hostname", &c->verify_hostname));
  return tls.CheckAllKeysKnown();
}

// The brokers: `nodes` (a cluster), else `host` and `port` (one broker).
absl::Status SetNodes(const ConfigNode& config, const std::string& host,
                      uint32_t port, const std::vector<std::string>& nodes,
                      ConnectionSettings* c) {
  if (config.Has("nodes")) {
    // One way to say where the brokers are, so no setting is ignored.
    if (config.Has("host") || config.Has("port")) {
      return config.Error("nodes",
                          "set either nodes (a cluster) or host and port (one "
                          "broker), not both; list every node in nodes");
    }
    if (nodes.empty()) {
      return config.Error("nodes", "must list at least one host:port");
    }
    c->nodes.clear();
    for (const std::string& node : nodes) {
      auto parsed = ParseBrokerNode(node);
      if (!parsed.ok()) return config.Error("nodes", parsed.status().message());
      c->nodes.push_back(*std::move(parsed));
    }
  } else {
    if (host.empty()) return config.Error("host", "must be set");
    if (port == 0 || port > 65535) {
      return config.Error("port", "must be 1 to 65535");
    }
    c->nodes = {BrokerNode{host, static_cast<int>(port)}};
  }
  return absl::OkStatus();
}

// Values out of their setting's range, and settings that contradict each
// other.
absl::Status CheckValues(const ConfigNode& config, const Settings& s,
                         absl::Duration heartbeat) {
  if (s.queue_type != "classic" && s.queue_type != "quorum") {
    return config.Error("queue_type", absl::StrCat("must be classic or quorum, "
                                                   "got '",
                                                   s.queue_type, "'"));
  }
  if (s.queue_type == "quorum" && !s.durable) {
    return config.Error("durable", "quorum queues are always durable");
  }
  if (s.exchange.empty()) return config.Error("exchange", "must be set");
  if (s.confirm_window == 0) {
    return config.Error("confirm_window", "must be at least 1");
  }
  if (s.delivery_linger > absl::Milliseconds(100)) {
    return config.Error("delivery_linger", "must be 0 (off) to 100ms");
  }
  if (s.command_timeout < absl::Milliseconds(100)) {
    return config.Error("command_timeout", "must be at least 100ms");
  }
  if (s.reconnect_max < s.reconnect_initial) {
    return config.Error("reconnect_max", "must be at least reconnect_initial");
  }
  if (heartbeat < absl::ZeroDuration() || heartbeat > absl::Seconds(3600)) {
    return config.Error("heartbeat", "must be 0 (off) to 1h");
  }
  return absl::OkStatus();
}

// The password: a file, the environment, the config, in that order.
absl::Status SetPassword(const ConfigNode& config, const std::string& password,
                         const std::string& password_env,
                         const std::string& password_file,
                         ConnectionSettings* c) {
  if (!password_file.empty()) {
    std::ifstream in(password_file);
    std::stringstream text;
    if (!(in && text << in.rdbuf())) {
      return config.Error("password_file",
                          absl::StrCat("cannot read '", password_file, "'"));
    }
    c->password = std::string(absl::StripTrailingAsciiWhitespace(text.str()));
  } else if (const char* env = password_env.empty()
                                   ? nullptr
                                   : std::getenv(password_env.c_str())) {
    c->password = env;
  } else if (config.Has("password")) {
    c->password = password;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Settings> ParseSettings(const ConfigNode& config) {
  Settings s;
  ConnectionSettings& c = s.connection;
  std::string password;
  std::string password_env = "SWITCHBOARD_RABBITMQ_PASSWORD";
  std::string password_file;
  absl::Duration heartbeat = absl::Seconds(c.heartbeat_seconds);
  std::string host = c.nodes[0].host;
  uint32_t port = c.nodes[0].port;
  std::vector<std::string> nodes;
  SB_RETURN_IF_ERROR(config.Get("host", &host));
  SB_RETURN_IF_ERROR(config.Get("port", &port));
  SB_RETURN_IF_ERROR(config.Get("nodes", &nodes));
  SB_RETURN_IF_ERROR(config.Get("vhost", &c.vhost));
  SB_RETURN_IF_ERROR(config.Get("user", &c.user));
  SB_RETURN_IF_ERROR(config.Get("password", &password));
  SB_RETURN_IF_ERROR(config.Get("password_env", &password_env));
  SB_RETURN_IF_ERROR(config.Get("password_file", &password_file));
  SB_RETURN_IF_ERROR(config.Get("heartbeat", &heartbeat));
  SB_RETURN_IF_ERROR(config.Get("connect_timeout", &c.connect_timeout));
  SB_RETURN_IF_ERROR(config.Get("exchange", &s.exchange));
  SB_RETURN_IF_ERROR(config.Get("queue_type", &s.queue_type));
  SB_RETURN_IF_ERROR(config.Get("durable", &s.durable));
  SB_RETURN_IF_ERROR(config.Get("confirm_window", &s.confirm_window));
  SB_RETURN_IF_ERROR(config.Get("max_deliveries", &s.max_deliveries));
  SB_RETURN_IF_ERROR(config.Get("delivery_linger", &s.delivery_linger));
  SB_RETURN_IF_ERROR(config.Get("reconnect_initial", &s.reconnect_initial));
  SB_RETURN_IF_ERROR(config.Get("reconnect_max", &s.reconnect_max));
  SB_RETURN_IF_ERROR(config.Get("command_timeout", &s.command_timeout));
  SB_ASSIGN_OR_RETURN(ConfigNode tls, config.Child("tls"));
  SB_RETURN_IF_ERROR(config.CheckAllKeysKnown());
  SB_RETURN_IF_ERROR(ReadTls(tls, &c));

  SB_RETURN_IF_ERROR(SetNodes(config, host, port, nodes, &c));
  SB_RETURN_IF_ERROR(CheckValues(config, s, heartbeat));
  c.heartbeat_seconds = static_cast<int>(absl::ToInt64Seconds(heartbeat));
  if (c.client_cert_file.empty() != c.client_key_file.empty()) {
    return tls.Error("client_cert", "client_cert and client_key go together");
  }
  SB_RETURN_IF_ERROR(
      SetPassword(config, password, password_env, password_file, &c));
  return s;
}

}  // namespace switchboard::bridge::rabbitmq
