#include "services/broadcaster/region_settings.h"

#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "services/common/queue_name.h"
#include "services/common/status_macros.h"

namespace switchboard::broadcaster {
namespace {

// Reads the fields of the `regions` node into `s`; `presence` is left as
// written. Unknown keys are an error.
absl::Status ReadFields(const ConfigNode& node, RegionSettings& s,
                        std::string& presence) {
  SB_RETURN_IF_ERROR(node.Get("enabled", &s.enabled));
  SB_RETURN_IF_ERROR(node.Get("queue_prefix", &s.queue_prefix));
  SB_RETURN_IF_ERROR(node.Get("unroutable_queue", &s.unroutable_queue));
  SB_RETURN_IF_ERROR(node.Get("presence", &presence));
  SB_RETURN_IF_ERROR(node.Get("alive_interval", &s.alive_interval));
  SB_RETURN_IF_ERROR(node.Get("alive_timeout", &s.alive_timeout));
  SB_RETURN_IF_ERROR(node.Get("periodic_sync", &s.periodic_sync));
  SB_RETURN_IF_ERROR(node.Get("sync_interval", &s.sync_interval));
  SB_RETURN_IF_ERROR(node.Get("grace_period", &s.grace_period));
  SB_RETURN_IF_ERROR(node.Get("source", &s.source));
  SB_RETURN_IF_ERROR(node.Get("known", &s.known));
  return node.CheckAllKeysKnown();
}

absl::Status ParsePresence(const ConfigNode& node, const std::string& presence,
                           RegionSettings::Presence& out) {
  if (presence == "connect") {
    out = RegionSettings::Presence::kConnect;
  } else if (presence == "activate") {
    out = RegionSettings::Presence::kActivate;
  } else {
    return node.Error("presence", absl::StrCat("expected 'connect' or "
                                               "'activate', got '",
                                               presence, "'"));
  }
  return absl::OkStatus();
}

// The queues, durations and source.
absl::Status CheckValues(const ConfigNode& node, const RegionSettings& s) {
  if (absl::Status st = ValidateQueueName(absl::StrCat(s.queue_prefix, "x"));
      !st.ok()) {
    return node.Error("queue_prefix", st.message());
  }
  if (absl::Status st = ValidateQueueName(s.unroutable_queue); !st.ok()) {
    return node.Error("unroutable_queue", st.message());
  }
  if (s.alive_interval <= absl::ZeroDuration()) {
    return node.Error("alive_interval", "must be positive");
  }
  if (s.alive_timeout <= s.alive_interval) {
    return node.Error(
        "alive_timeout",
        absl::StrCat("must be above alive_interval (",
                     absl::FormatDuration(s.alive_interval),
                     "): a region must be asked whether it is alive before "
                     "it is declared down"));
  }
  if (s.sync_interval <= absl::ZeroDuration()) {
    return node.Error("sync_interval",
                      "must be positive (set periodic_sync: false to turn "
                      "the sync off)");
  }
  if (s.grace_period < absl::ZeroDuration()) {
    return node.Error("grace_period", "must not be negative");
  }
  if (s.source.empty()) return node.Error("source", "must be set");
  return absl::OkStatus();
}

// Every known region names a queue, once.
absl::Status CheckKnown(const ConfigNode& node, const RegionSettings& s) {
  std::set<std::string> seen;
  for (size_t i = 0; i < s.known.size(); ++i) {
    const std::string key = absl::StrCat("known[", i, "]");
    if (absl::Status st =
            ValidateQueueName(absl::StrCat(s.queue_prefix, s.known[i]));
        !st.ok() || s.known[i].empty()) {
      return node.Error(
          key, absl::StrCat("'", s.known[i], "' cannot name a region queue: ",
                            st.ok() ? "empty" : st.message()));
    }
    if (!seen.insert(s.known[i]).second) {
      return node.Error(key,
                        absl::StrCat("'", s.known[i], "' is listed twice"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RegionSettings> ParseRegionSettings(const ConfigNode& config) {
  RegionSettings s;
  SB_ASSIGN_OR_RETURN(ConfigNode node, config.Child("regions"));
  std::string presence = "connect";
  SB_RETURN_IF_ERROR(ReadFields(node, s, presence));
  SB_RETURN_IF_ERROR(ParsePresence(node, presence, s.presence));
  SB_RETURN_IF_ERROR(CheckValues(node, s));
  SB_RETURN_IF_ERROR(CheckKnown(node, s));
  return s;
}

}  // namespace switchboard::broadcaster
