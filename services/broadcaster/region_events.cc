#include "services/broadcaster/region_events.h"

#include "absl/strings/str_cat.h"
#include "services/broadcaster/region_state.h"
#include "services/common/queue_name.h"
#include "services/common/status_macros.h"

namespace switchboard::broadcaster {
namespace {

using switchboard::v1::Event;
using switchboard::v1::SwitchStatus;

absl::Status ValidateSwitchStatus(const SwitchStatus& s,
                                  const std::string& region) {
  if (s.switch_id().empty()) {
    return absl::InvalidArgumentError("switch_status.switch_id is empty");
  }
  if (s.change() == SwitchStatus::CHANGE_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        "switch_status.change is unset: CONNECTED, DISCONNECTED, "
        "ACTIVATED, DEACTIVATED or DUMP");
  }
  if (s.change() == SwitchStatus::UPDATED) {
    return absl::InvalidArgumentError(
        "switch_status.change UPDATED is the broadcaster's own; speakers "
        "report CONNECTED, DISCONNECTED, ACTIVATED, DEACTIVATED or DUMP");
  }
  if (region.empty()) {
    return absl::InvalidArgumentError(
        "switch_status.region is empty: name the speaker's region");
  }
  return absl::OkStatus();
}

absl::Status ValidateCommandTargets(const switchboard::v1::Command& c) {
  if (!c.broadcast() && c.target_switches().empty()) {
    return absl::InvalidArgumentError(
        "command has no target_switches and broadcast is unset: it would "
        "go to no region");
  }
  for (int i = 0; i < c.target_switches_size(); ++i) {
    if (c.target_switches(i).empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("command.target_switches[", i, "] is empty"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

const std::string& EventRegion(const Event& event) {
  static const std::string* const kNone = new std::string();
  switch (event.data_case()) {
    case Event::kSwitchStatus:
      return event.switch_status().region();
    case Event::kPortStatus:
      return event.port_status().region();
    case Event::kHeartbeat:
      return event.heartbeat().region();
    default:
      return *kNone;
  }
}

absl::Status ValidateRegionEvent(const Event& event,
                                 const RegionSettings& settings) {
  const std::string& region = EventRegion(event);
  if (!region.empty()) {
    if (absl::Status s =
            ValidateQueueName(absl::StrCat(settings.queue_prefix, region));
        !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "region '", region, "' cannot name a region queue: ", s.message()));
    }
  }
  if (event.has_switch_status()) {
    SB_RETURN_IF_ERROR(ValidateSwitchStatus(event.switch_status(), region));
  }
  if (event.has_port_status() && region.empty()) {
    return absl::InvalidArgumentError(
        "port_status.region is empty: name the speaker's region");
  }
  if (event.has_command()) return ValidateCommandTargets(event.command());
  return absl::OkStatus();
}

Event NewTrackerEvent(const RegionSettings& settings, const std::string& type,
                      absl::Time now) {
  Event e;
  e.set_source(settings.source);
  e.set_type(type);
  *e.mutable_time() = TimestampProto(now);
  return e;
}

}  // namespace switchboard::broadcaster
