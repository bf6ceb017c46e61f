#ifndef SWITCHBOARD_SERVICES_BROADCASTER_REGION_ROUTER_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_REGION_ROUTER_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "services/broadcaster/region_settings.h"
#include "services/broadcaster/region_state.h"
#include "switchboard/v1/event.pb.h"

// Routing to region queues: commands to the regions serving their switches,
// the tracker's requests to the region asked. The caller holds the
// tracker's lock.

namespace switchboard::broadcaster {

// Where a command goes.
struct RegionCommandRoute {
  // Region queues getting the command as it is.
  std::vector<std::string> queues;
  // Region (or unroutable) queues getting a copy scoped to their
  // switches, for a multi-switch command split across regions.
  std::vector<std::pair<std::string, switchboard::v1::Event>> scoped;
  // Not OK when some or all of it could not be routed: that part is in
  // the unroutable queue (in `queues` or `scoped`), and the publisher is
  // told with this status.
  absl::Status error;
};

// The commands queue of `region`: <queue_prefix><region>.
std::string RegionQueue(const RegionSettings& settings,
                        const std::string& region);

// A request of the tracker's (`type`, command `command`) for `region`, and
// the queue it goes to. Its command is a broadcast: for a request in one
// region's queue that means "all your switches". `reason`, when set, is the
// kDumpReasonAttribute.
std::pair<std::string, switchboard::v1::Event> RegionRequest(
    const RegionSettings& settings, const std::string& region,
    const std::string& type, const std::string& command,
    const std::string& reason, absl::Time now);

// Where `command` (an event with a Command payload) goes. A broadcast goes
// to every live region. Targets go to the region serving each
// (CommandRegion, region_views.h): one region gets the command as it is;
// several get a copy each, scoped to their switches. Targets no region can
// take are kept in the unroutable queue and named in `error`.
RegionCommandRoute RouteRegionCommand(const RegionSettings& settings,
                                      const TrackedSwitches& switches,
                                      const TrackedRegions& regions,
                                      const switchboard::v1::Event& command,
                                      absl::Time now);

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_REGION_ROUTER_H_
