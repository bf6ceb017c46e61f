#ifndef SWITCHBOARD_SERVICES_BROADCASTER_REGION_VIEWS_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_REGION_VIEWS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/broadcaster/region_state.h"
#include "switchboard/v1/regions.pb.h"

// Read-only views of the tracker's state (region_state.h): which region
// serves each switch, and the answers of the Regions RPCs. The caller holds
// the tracker's lock.

namespace switchboard::broadcaster {

// The region commands for the switch go to: the active one, or the grace
// region until its grace period ends. NotFound when no region serves it,
// FailedPrecondition when only read-only regions hold it.
absl::StatusOr<std::string> CommandRegion(const TrackedSwitches& switches,
                                          const std::string& switch_id,
                                          absl::Time now);

// One switch as apps see it.
switchboard::v1::SwitchConnections DescribeSwitch(const std::string& switch_id,
                                                  const TrackedSwitch& state,
                                                  absl::Time now);

// Every switch, sorted by id; only those `region` holds unless it is empty.
std::vector<switchboard::v1::SwitchConnections> DescribeSwitches(
    const TrackedSwitches& switches, const std::string& region, absl::Time now);

// Every known region, sorted by name, with the switches it holds.
std::vector<switchboard::v1::RegionState> DescribeRegions(
    const TrackedSwitches& switches, const TrackedRegions& regions);

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_REGION_VIEWS_H_
