#include "services/broadcaster/region_views.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace switchboard::broadcaster {

using switchboard::v1::SwitchConnections;

absl::StatusOr<std::string> CommandRegion(const TrackedSwitches& switches,
                                          const std::string& switch_id,
                                          absl::Time now) {
  auto it = switches.find(switch_id);
  if (it == switches.end()) {
    return absl::NotFoundError(absl::StrCat(
        "no region serves switch '", switch_id,
        "' (never reported, or gone for longer than the grace period)"));
  }
  const TrackedSwitch& state = it->second;
  if (!state.active.empty()) return state.active;
  if (!state.grace_region.empty() && now < state.grace_until) {
    return state.grace_region;
  }
  if (!state.connections.empty()) {
    std::vector<std::string> regions;
    for (const TrackedConnection& c : state.connections) {
      regions.push_back(c.region);
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "switch '", switch_id, "' is held read-only only (",
        absl::StrJoin(regions, ", "), "): no region can command it"));
  }
  return absl::NotFoundError(
      absl::StrCat("no region serves switch '", switch_id,
                   "' any more (its grace period ended)"));
}

SwitchConnections DescribeSwitch(const std::string& switch_id,
                                 const TrackedSwitch& state, absl::Time now) {
  SwitchConnections out;
  out.set_switch_id(switch_id);
  out.set_active_region(state.active);
  if (!state.active.empty()) {
    out.set_presence(SwitchConnections::CONNECTED);
    out.set_uptime_seconds(WholeSeconds(now - state.connected_since));
  } else if (!state.connections.empty()) {
    out.set_presence(SwitchConnections::READ_ONLY);
  } else {
    out.set_presence(SwitchConnections::DISCONNECTED);
  }
  if (state.active.empty() && !state.grace_region.empty() &&
      now < state.grace_until) {
    out.set_grace_region(state.grace_region);
    *out.mutable_grace_until() = TimestampProto(state.grace_until);
  }
  AppendConnections(state.connections, now, out.mutable_connections());
  return out;
}

std::vector<SwitchConnections> DescribeSwitches(const TrackedSwitches& switches,
                                                const std::string& region,
                                                absl::Time now) {
  std::vector<SwitchConnections> out;
  for (const auto& [id, state] : switches) {
    if (!region.empty() &&
        std::none_of(
            state.connections.begin(), state.connections.end(),
            [&](const TrackedConnection& c) { return c.region == region; })) {
      continue;
    }
    out.push_back(DescribeSwitch(id, state, now));
  }
  return out;
}

std::vector<switchboard::v1::RegionState> DescribeRegions(
    const TrackedSwitches& switches, const TrackedRegions& regions) {
  // Region -> (switches it holds, switches it is active for).
  std::map<std::string, std::pair<uint32_t, uint32_t>> counts;
  for (const auto& [id, state] : switches) {
    for (const TrackedConnection& c : state.connections) {
      ++counts[c.region].first;
    }
    if (!state.active.empty()) ++counts[state.active].second;
  }
  std::vector<switchboard::v1::RegionState> out;
  for (const auto& [name, r] : regions) {
    switchboard::v1::RegionState& o = out.emplace_back();
    o.set_name(name);
    o.set_alive(r.alive);
    if (r.last_seen != absl::InfinitePast()) {
      *o.mutable_last_seen() = TimestampProto(r.last_seen);
    }
    o.set_switches(counts[name].first);
    o.set_active_switches(counts[name].second);
  }
  return out;
}

}  // namespace switchboard::broadcaster
