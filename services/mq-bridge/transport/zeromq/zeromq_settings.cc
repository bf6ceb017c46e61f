#include "services/mq-bridge/transport/zeromq/zeromq_settings.h"

#include <zmq.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "services/common/status_macros.h"

namespace switchboard::bridge::zeromq {
namespace {

// Why `endpoint` is not usable ("" when it is). ZeroMQ accepts more
// transports (inproc, pgm, ...), but only these reach another process.
std::string EndpointProblem(absl::string_view endpoint, bool bind) {
  const std::string usage = bind ? "tcp://host:port (port * or 0 for any) or "
                                   "ipc:///path"
                                 : "tcp://host:port or ipc:///path";
  if (absl::ConsumePrefix(&endpoint, "ipc://")) {
    return endpoint.empty() ? "ipc:// needs a path, e.g. ipc:///run/zmq.sock"
                            : "";
  }
  if (!absl::ConsumePrefix(&endpoint, "tcp://")) {
    return absl::StrCat("unsupported endpoint '", endpoint, "': use ", usage);
  }
  size_t colon = endpoint.rfind(':');
  if (colon == absl::string_view::npos) {
    return absl::StrCat("'tcp://", endpoint, "' has no port: use ", usage);
  }
  absl::string_view host = endpoint.substr(0, colon);
  absl::string_view port = endpoint.substr(colon + 1);
  if (host.empty()) return absl::StrCat("'tcp://", endpoint, "' has no host");
  if (absl::StartsWith(host, "[") != absl::EndsWith(host, "]")) {
    return absl::StrCat("'tcp://", endpoint,
                        "': write IPv6 addresses in brackets, e.g. [::1]");
  }
  if (!bind && host == "*") {
    return absl::StrCat("'tcp://", endpoint,
                        "': connect needs the publisher's host, not *");
  }
  if (bind && port == "*") return "";
  uint32_t number = 0;
  if (!absl::SimpleAtoi(port, &number) || number > 65535 ||
      (!bind && number == 0)) {
    return absl::StrCat("'tcp://", endpoint, "' has no valid port (",
                        bind ? "0" : "1", " to 65535", bind ? ", or *" : "",
                        ")");
  }
  return "";
}

// Reads curve.secret_key_file into s->curve.secret_key. Errors never quote
// the key.
absl::Status ReadSecretKey(const ConfigNode& curve,
                           const std::string& secret_file, Settings* s) {
  if (!zmq_has("curve")) {
    return curve.Error("secret_key_file",
                       "this libzmq was built without CURVE");
  }
  std::ifstream in(secret_file);
  if (!in) {
    return curve.Error("secret_key_file",
                       absl::StrCat("cannot read '", secret_file, "'"));
  }
  std::stringstream text;
  text << in.rdbuf();
  s->curve.secret_key = std::string(absl::StripAsciiWhitespace(text.str()));
  if (DecodeCurveKey(s->curve.secret_key).empty()) {
    return curve.Error(
        "secret_key_file",
        absl::StrCat("'", secret_file,
                     "' does not hold a Z85 CURVE secret key (40 characters; "
                     "make one with tools/curve-keygen)"));
  }
  return absl::OkStatus();
}

// With CURVE on: one peer key for each endpoint in `connect`, and none for
// any other.
absl::Status CheckPeerKeys(const ConfigNode& curve, const ConfigNode& peer_keys,
                           const Settings& s) {
  for (size_t i = 0; i < s.connect.size(); ++i) {
    if (s.curve.peer_keys.count(s.connect[i]) == 0) {
      return curve.Error("peer_keys", absl::StrCat("has no key for connect[", i,
                                                   "] '", s.connect[i], "'"));
    }
  }
  for (const auto& [endpoint, key] : s.curve.peer_keys) {
    if (std::find(s.connect.begin(), s.connect.end(), endpoint) ==
        s.connect.end()) {
      return peer_keys.Error(endpoint, "is not in connect");
    }
  }
  return absl::OkStatus();
}

// `transport.zeromq.curve`: errors name the field and never quote the
// secret key.
absl::Status ParseCurve(const ConfigNode& config, Settings* s) {
  SB_ASSIGN_OR_RETURN(ConfigNode curve, config.Child("curve"));
  SB_ASSIGN_OR_RETURN(ConfigNode peer_keys, curve.Child("peer_keys"));
  std::string secret_file;
  SB_RETURN_IF_ERROR(curve.Get("secret_key_file", &secret_file));
  for (const std::string& endpoint : peer_keys.Keys()) {
    std::string key;
    SB_RETURN_IF_ERROR(peer_keys.Get(endpoint, &key));
    if (DecodeCurveKey(key).empty()) {
      return peer_keys.Error(endpoint,
                             "is not a Z85 CURVE public key (40 characters)");
    }
    s->curve.peer_keys[endpoint] = key;
  }
  SB_RETURN_IF_ERROR(curve.Get("authorized_keys", &s->curve.authorized_keys));
  SB_RETURN_IF_ERROR(peer_keys.CheckAllKeysKnown());
  SB_RETURN_IF_ERROR(curve.CheckAllKeysKnown());
  for (size_t i = 0; i < s->curve.authorized_keys.size(); ++i) {
    if (DecodeCurveKey(s->curve.authorized_keys[i]).empty()) {
      return curve.Error(absl::StrCat("authorized_keys[", i, "]"),
                         "is not a Z85 CURVE public key (40 characters)");
    }
  }
  if (secret_file.empty()) {
    if (!s->curve.peer_keys.empty() || !s->curve.authorized_keys.empty()) {
      return curve.Error("secret_key_file",
                         "must be set for CURVE (peer_keys and "
                         "authorized_keys need it)");
    }
    return absl::OkStatus();
  }
  SB_RETURN_IF_ERROR(ReadSecretKey(curve, secret_file, s));
  return CheckPeerKeys(curve, peer_keys, *s);
}

// `bind` and every `connect` endpoint usable, none listed twice.
absl::Status ValidateEndpoints(const ConfigNode& config, const Settings& s) {
  if (std::string problem = EndpointProblem(s.bind, /*bind=*/true);
      !problem.empty()) {
    return config.Error("bind", problem);
  }
  for (size_t i = 0; i < s.connect.size(); ++i) {
    const std::string key = absl::StrCat("connect[", i, "]");
    if (std::string problem = EndpointProblem(s.connect[i], /*bind=*/false);
        !problem.empty()) {
      return config.Error(key, problem);
    }
    auto first = std::find(s.connect.begin(), s.connect.end(), s.connect[i]);
    if (first != s.connect.begin() + i) {
      return config.Error(key, absl::StrCat("'", s.connect[i],
                                            "' is listed twice (also connect[",
                                            first - s.connect.begin(), "])"));
    }
  }
  return absl::OkStatus();
}

// Limits and durations within their ranges.
absl::Status ValidateLimits(const ConfigNode& config, const Settings& s) {
  // ZeroMQ takes an int; 0 would mean no limit, hence no bound on memory.
  constexpr uint32_t kMaxHwm = std::numeric_limits<int>::max();
  if (s.send_hwm == 0 || s.send_hwm > kMaxHwm) {
    return config.Error("send_hwm", absl::StrCat("must be 1 to ", kMaxHwm));
  }
  if (s.receive_hwm == 0 || s.receive_hwm > kMaxHwm) {
    return config.Error("receive_hwm", absl::StrCat("must be 1 to ", kMaxHwm));
  }
  if (s.max_queue_messages == 0) {
    return config.Error("max_queue_messages", "must be at least 1");
  }
  if (s.max_total_bytes == 0) {
    return config.Error("max_total_bytes", "must be at least 1");
  }
  if (s.linger < absl::ZeroDuration()) {
    return config.Error("linger", "must not be negative");
  }
  if (s.linger > absl::Minutes(1)) {
    return config.Error("linger", "must be at most 1m (it delays shutdown)");
  }
  if (s.heartbeat < absl::Milliseconds(10) || s.heartbeat > absl::Hours(1)) {
    return config.Error("heartbeat", "must be 10ms to 1h");
  }
  if (s.connect_timeout < absl::Milliseconds(1) ||
      s.connect_timeout > absl::Minutes(5)) {
    return config.Error("connect_timeout", "must be 1ms to 5m");
  }
  return absl::OkStatus();
}

}  // namespace

std::string DecodeCurveKey(const std::string& z85) {
  if (z85.size() != 40) return "";
  std::string key(32, '\0');
  if (zmq_z85_decode(reinterpret_cast<uint8_t*>(key.data()), z85.c_str()) ==
      nullptr) {
    return "";
  }
  return key;
}

std::string EncodeCurveKey(const std::string& key) {
  char z85[41];
  zmq_z85_encode(z85, reinterpret_cast<const uint8_t*>(key.data()), 32);
  return z85;
}

absl::StatusOr<Settings> ParseSettings(const ConfigNode& config) {
  Settings s;
  SB_RETURN_IF_ERROR(config.Get("bind", &s.bind));
  SB_RETURN_IF_ERROR(config.Get("connect", &s.connect));
  SB_RETURN_IF_ERROR(config.Get("connect_self", &s.connect_self));
  SB_RETURN_IF_ERROR(config.Get("declare_on_receive", &s.declare_on_receive));
  SB_RETURN_IF_ERROR(config.Get("send_hwm", &s.send_hwm));
  SB_RETURN_IF_ERROR(config.Get("receive_hwm", &s.receive_hwm));
  SB_RETURN_IF_ERROR(config.Get("max_queue_messages", &s.max_queue_messages));
  SB_RETURN_IF_ERROR(config.Get("max_deliveries", &s.max_deliveries));
  SB_RETURN_IF_ERROR(config.Get("max_total_bytes", &s.max_total_bytes));
  SB_RETURN_IF_ERROR(config.Get("linger", &s.linger));
  SB_RETURN_IF_ERROR(config.Get("heartbeat", &s.heartbeat));
  SB_RETURN_IF_ERROR(config.Get("connect_timeout", &s.connect_timeout));
  SB_RETURN_IF_ERROR(ParseCurve(config, &s));
  SB_RETURN_IF_ERROR(config.CheckAllKeysKnown());
  SB_RETURN_IF_ERROR(ValidateEndpoints(config, s));
  SB_RETURN_IF_ERROR(ValidateLimits(config, s));
  return s;
}

}  // namespace switchboard::bridge::zeromq
