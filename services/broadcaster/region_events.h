#ifndef SWITCHBOARD_SERVICES_BROADCASTER_REGION_EVENTS_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_REGION_EVENTS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "services/broadcaster/region_settings.h"
#include "switchboard/v1/event.pb.h"

// The events of region tracking: those the regions' speakers publish (see
// speaker_protocol.h), and the frame of those the tracker makes.

namespace switchboard::broadcaster {

// The region an event comes from: the `region` of its switch_status,
// port_status or heartbeat payload; empty for other events.
const std::string& EventRegion(const switchboard::v1::Event& event);

// Checks what the tracker relies on in an event: a region name that can
// name a queue, a switch id and change on switch events, targets on
// commands. InvalidArgument naming the field.
absl::Status ValidateRegionEvent(const switchboard::v1::Event& event,
                                 const RegionSettings& settings);

// A new event of the tracker's: `type`, from settings.source, at `now`.
switchboard::v1::Event NewTrackerEvent(const RegionSettings& settings,
                                       const std::string& type, absl::Time now);

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_REGION_EVENTS_H_
