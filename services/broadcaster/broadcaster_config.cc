#include "services/broadcaster/broadcaster_config.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/common/client_channel.h"
#include "services/common/status_macros.h"

namespace switchboard::broadcaster {
namespace {

absl::Status ParseBridge(const ConfigNode& node, Forwarder::Options* o) {
  SB_RETURN_IF_ERROR(node.Get("address", &o->bridge_address));
  SB_RETURN_IF_ERROR(node.Get("batch_max_events", &o->batch_max_events));
  SB_RETURN_IF_ERROR(node.Get("batch_max_bytes", &o->batch_max_bytes));
  SB_RETURN_IF_ERROR(
      node.Get("max_inflight_batches", &o->max_inflight_batches));
  SB_RETURN_IF_ERROR(node.Get("backoff_initial", &o->backoff_initial));
  SB_RETURN_IF_ERROR(node.Get("backoff_max", &o->backoff_max));
  SB_ASSIGN_OR_RETURN(o->bridge_credentials, ParseBridgeCredentials(node));
  SB_RETURN_IF_ERROR(node.CheckAllKeysKnown());
  if (o->bridge_address.empty()) return node.Error("address", "must be set");
  if (o->batch_max_events == 0) {
    return node.Error("batch_max_events", "must be at least 1");
  }
  if (o->batch_max_bytes < 1024) {
    return node.Error("batch_max_bytes", "must be at least 1024");
  }
  if (o->max_inflight_batches == 0) {
    return node.Error("max_inflight_batches", "must be at least 1");
  }
  if (o->backoff_initial <= absl::ZeroDuration()) {
    return node.Error("backoff_initial", "must be positive");
  }
  if (o->backoff_max < o->backoff_initial) {
    return node.Error("backoff_max", "must be at least backoff_initial");
  }
  return absl::OkStatus();
}

absl::Status ParseDiskBuffer(const ConfigNode& node, DiskLog::Options* d) {
  std::string fsync = "batch";
  SB_RETURN_IF_ERROR(node.Get("path", &d->path));
  SB_RETURN_IF_ERROR(node.Get("segment_bytes", &d->segment_bytes));
  SB_RETURN_IF_ERROR(node.Get("fsync", &fsync));
  SB_RETURN_IF_ERROR(node.Get("fsync_interval", &d->fsync_interval));
  SB_RETURN_IF_ERROR(node.CheckAllKeysKnown());
  if (d->path.empty()) {
    return node.Error("path", "must be set with buffer.type disk");
  }
  if (d->segment_bytes < 4096) {
    return node.Error("segment_bytes", "must be at least 4096");
  }
  auto policy = ParseFsyncPolicy(fsync);
  if (!policy.ok()) return node.Error("fsync", policy.status().message());
  d->fsync = *policy;
  if (d->fsync_interval <= absl::ZeroDuration()) {
    return node.Error("fsync_interval", "must be more than 0");
  }
  d->cost = &EventBuffer::Cost;
  return absl::OkStatus();
}

absl::Status ParseBuffer(const ConfigNode& node, EventBuffer::Limits* l,
                         std::optional<DiskLog::Options>* disk) {
  std::string overflow = "reject";
  std::string type = "memory";
  SB_RETURN_IF_ERROR(node.Get("type", &type));
  SB_RETURN_IF_ERROR(node.Get("max_events", &l->max_events));
  SB_RETURN_IF_ERROR(node.Get("max_bytes", &l->max_bytes));
  SB_RETURN_IF_ERROR(node.Get("overflow", &overflow));
  SB_ASSIGN_OR_RETURN(ConfigNode disk_node, node.Child("disk"));
  SB_RETURN_IF_ERROR(node.CheckAllKeysKnown());
  if (type == "disk") {
    DiskLog::Options options;
    SB_RETURN_IF_ERROR(ParseDiskBuffer(disk_node, &options));
    *disk = std::move(options);
  } else if (type != "memory") {
    return node.Error("type", absl::StrCat("unknown buffer type '", type,
                                           "' (known: memory, disk)"));
  } else if (node.Has("disk")) {
    return node.Error("disk", "is read only with type: disk");
  }
  if (l->max_events == 0) return node.Error("max_events", "must be at least 1");
  if (l->max_bytes < 4096) {
    return node.Error("max_bytes", "must be at least 4096");
  }
  auto policy = ParseOverflowPolicy(overflow);
  if (!policy.ok()) return node.Error("overflow", policy.status().message());
  l->overflow = *policy;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<BroadcasterConfig> BroadcasterConfig::Parse(
    const ConfigNode& config, const std::string& listen_override) {
  BroadcasterConfig c;
  SB_ASSIGN_OR_RETURN(
      c.listen,
      ListenSettings::Parse(config, "listen", c.listen, listen_override));
  SB_RETURN_IF_ERROR(config.Get("max_event_bytes", &c.max_event_bytes));
  SB_RETURN_IF_ERROR(config.Get("max_batch_events", &c.max_batch_events));
  SB_RETURN_IF_ERROR(config.Get("max_pending_batches", &c.max_pending_batches));
  SB_RETURN_IF_ERROR(config.Get("flush_timeout", &c.flush_timeout));
  SB_RETURN_IF_ERROR(config.Get("max_time_ahead", &c.time_bounds.max_ahead));
  SB_RETURN_IF_ERROR(config.Get("max_time_behind", &c.time_bounds.max_behind));
  SB_ASSIGN_OR_RETURN(ConfigNode bridge, config.Child("bridge"));
  SB_ASSIGN_OR_RETURN(ConfigNode buffer, config.Child("buffer"));
  SB_ASSIGN_OR_RETURN(c.routing, Router::ParseSettings(config));
  SB_ASSIGN_OR_RETURN(c.regions, ParseRegionSettings(config));
  SB_RETURN_IF_ERROR(config.CheckAllKeysKnown());
  SB_RETURN_IF_ERROR(ParseBridge(bridge, &c.bridge));
  SB_RETURN_IF_ERROR(ParseBuffer(buffer, &c.buffer, &c.disk_buffer));
  if (c.max_event_bytes < 64) {
    return config.Error("max_event_bytes", "must be at least 64");
  }
  if (c.max_batch_events == 0) {
    return config.Error("max_batch_events", "must be at least 1");
  }
  if (c.max_pending_batches == 0) {
    return config.Error("max_pending_batches", "must be at least 1");
  }
  if (c.time_bounds.max_ahead < absl::ZeroDuration()) {
    return config.Error("max_time_ahead", "must not be negative");
  }
  if (c.time_bounds.max_behind <= absl::ZeroDuration()) {
    return config.Error("max_time_behind", "must be positive");
  }
  const std::string& link_prefix = c.routing.link_queue_prefix;
  if (!link_prefix.empty() &&
      (absl::StartsWith(c.regions.queue_prefix, link_prefix) ||
       absl::StartsWith(c.regions.unroutable_queue, link_prefix))) {
    return config.Error("regions",
                        absl::StrCat("queue_prefix and unroutable_queue "
                                     "must not start with links.queue_prefix '",
                                     link_prefix, "'"));
  }
  if (c.max_event_bytes > c.buffer.max_bytes) {
    return config.Error("max_event_bytes",
                        "must not exceed buffer.max_bytes, or no event of "
                        "that size could ever be accepted");
  }
  return c;
}

}  // namespace switchboard::broadcaster
