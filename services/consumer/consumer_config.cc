#include "services/consumer/consumer_config.h"

#include "absl/strings/str_cat.h"
#include "services/common/queue_name.h"
#include "services/common/status_macros.h"

namespace switchboard::consumer {
namespace {

// `dedup` {store, window, directory}, or the older top-level
// `dedup_window`.
absl::Status ParseDedup(const ConfigNode& config, ConsumerConfig* c) {
  SB_RETURN_IF_ERROR(config.Get("dedup_window", &c->dedup_window));
  const bool legacy = config.Has("dedup_window");
  SB_ASSIGN_OR_RETURN(ConfigNode dedup, config.Child("dedup"));
  if (legacy && dedup.Has("window")) {
    return config.Error("dedup_window",
                        "is the older name of dedup.window: set only "
                        "dedup.window");
  }
  SB_RETURN_IF_ERROR(dedup.Get("window", &c->dedup_window));
  SB_RETURN_IF_ERROR(dedup.Get("store", &c->dedup_store));
  SB_RETURN_IF_ERROR(dedup.Get("directory", &c->dedup_directory));
  SB_RETURN_IF_ERROR(dedup.CheckAllKeysKnown());
  if (c->dedup_store != "memory" && c->dedup_store != "file") {
    return dedup.Error("store", absl::StrCat("unknown store '", c->dedup_store,
                                             "' (known: memory, file)"));
  }
  if (c->dedup_store == "file") {
    if (c->dedup_window == 0) {
      return dedup.Error("store",
                         "file needs deduplication on (window above 0)");
    }
    if (c->dedup_directory.empty()) {
      return dedup.Error("directory", "must be set with store: file");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ConsumerConfig> ConsumerConfig::Parse(
    const ConfigNode& config, const std::string& listen_override) {
  ConsumerConfig c;
  SB_ASSIGN_OR_RETURN(
      c.listen,
      ListenSettings::Parse(config, "listen", c.listen, listen_override));
  // The server applies them too (ServiceMain); here for the keepalive of
  // the channel to the bridge.
  SB_ASSIGN_OR_RETURN(c.limits, ServerLimits::Parse(config));
  SB_RETURN_IF_ERROR(config.Get("default_credit", &c.default_credit));
  SB_RETURN_IF_ERROR(config.Get("max_credit", &c.max_credit));
  SB_RETURN_IF_ERROR(ParseDedup(config, &c));
  SB_RETURN_IF_ERROR(config.Get("ack_deadline", &c.ack_deadline));
  SB_ASSIGN_OR_RETURN(ConfigNode bridge, config.Child("bridge"));
  SB_ASSIGN_OR_RETURN(ConfigNode links, config.Child("links"));
  SB_RETURN_IF_ERROR(config.CheckAllKeysKnown());
  SB_RETURN_IF_ERROR(bridge.Get("address", &c.bridge_address));
  SB_ASSIGN_OR_RETURN(c.bridge_credentials, ParseBridgeCredentials(bridge));
  SB_RETURN_IF_ERROR(bridge.CheckAllKeysKnown());
  SB_RETURN_IF_ERROR(links.Get("queue_prefix", &c.links.queue_prefix));
  SB_RETURN_IF_ERROR(
      links.Get("discovery_interval", &c.links.discovery_interval));
  SB_RETURN_IF_ERROR(links.CheckAllKeysKnown());
  if (c.bridge_address.empty()) return bridge.Error("address", "must be set");
  if (c.max_credit == 0 || c.max_credit > 65535) {
    return config.Error("max_credit", "must be 1 to 65535");
  }
  if (c.default_credit == 0 || c.default_credit > c.max_credit) {
    return config.Error("default_credit", "must be 1 to max_credit");
  }
  // "" turns the view off; otherwise the prefix plus any link id must make
  // a valid queue name.
  if (!c.links.queue_prefix.empty()) {
    if (absl::Status s = ValidateQueueNamePrefix(c.links.queue_prefix);
        !s.ok()) {
      return links.Error("queue_prefix",
                         absl::StrCat("'", c.links.queue_prefix,
                                      "' cannot start a queue name: ",
                                      s.message(), " (\"\" turns it off)"));
    }
  }
  if (c.ack_deadline != absl::ZeroDuration() &&
      (c.ack_deadline < kMinAckDeadline || c.ack_deadline > kMaxAckDeadline)) {
    return config.Error("ack_deadline", "must be 1s to 1h, or 0s (off)");
  }
  if (c.links.discovery_interval <= absl::ZeroDuration()) {
    return links.Error("discovery_interval", "must be more than 0");
  }
  return c;
}

}  // namespace switchboard::consumer
