#include "services/broadcaster/region_router.h"

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/broadcaster/region_events.h"
#include "services/broadcaster/region_views.h"
#include "services/broadcaster/speaker_protocol.h"

namespace switchboard::broadcaster {
namespace {

using switchboard::v1::Event;

// A broadcast command: to every live region, or kept when there is none.
RegionCommandRoute RouteBroadcast(const RegionSettings& settings,
                                  const TrackedRegions& regions,
                                  const switchboard::v1::Command& c) {
  RegionCommandRoute route;
  for (const auto& [name, r] : regions) {
    if (r.alive) route.queues.push_back(RegionQueue(settings, name));
  }
  if (route.queues.empty()) {
    const std::string& unroutable = settings.unroutable_queue;
    route.queues.push_back(unroutable);
    route.error = absl::FailedPreconditionError(
        absl::StrCat("broadcast command '", c.name(),
                     "': no live region; kept in queue '", unroutable, "'"));
  }
  return route;
}

// A command's targets by the region serving them.
struct TargetGroups {
  // Region -> its switches, in target order.
  std::map<std::string, std::vector<std::string>> groups;
  // The targets no region serves, and why.
  std::vector<std::string> failed;
  std::vector<std::string> reasons;
  // NotFound when some target is unknown, else FailedPrecondition.
  absl::StatusCode code = absl::StatusCode::kFailedPrecondition;
};

TargetGroups GroupTargets(const TrackedSwitches& switches,
                          const switchboard::v1::Command& c, absl::Time now) {
  TargetGroups out;
  std::set<std::string> seen;
  for (const std::string& target : c.target_switches()) {
    if (!seen.insert(target).second) continue;
    absl::StatusOr<std::string> region = CommandRegion(switches, target, now);
    if (region.ok()) {
      out.groups[*region].push_back(target);
      continue;
    }
    out.failed.push_back(target);
    out.reasons.emplace_back(region.status().message());
    if (region.status().code() == absl::StatusCode::kNotFound) {
      out.code = absl::StatusCode::kNotFound;
    }
  }
  return out;
}

// `command` with `switches` as its targets.
Event ScopedCopy(const Event& command,
                 const std::vector<std::string>& switches) {
  Event copy = command;
  auto* targets = copy.mutable_command()->mutable_target_switches();
  targets->Clear();
  for (const std::string& s : switches) targets->Add(std::string(s));
  return copy;
}

}  // namespace

std::string RegionQueue(const RegionSettings& settings,
                        const std::string& region) {
  return absl::StrCat(settings.queue_prefix, region);
}

std::pair<std::string, Event> RegionRequest(const RegionSettings& settings,
                                            const std::string& region,
                                            const std::string& type,
                                            const std::string& command,
                                            const std::string& reason,
                                            absl::Time now) {
  Event e = NewTrackerEvent(settings, type, now);
  e.set_subject(region);
  e.mutable_command()->set_name(command);
  // For a request in one region's queue, broadcast means "all your
  // switches".
  e.mutable_command()->set_broadcast(true);
  if (!reason.empty()) {
    (*e.mutable_attributes())[kDumpReasonAttribute] = reason;
  }
  return {RegionQueue(settings, region), std::move(e)};
}

RegionCommandRoute RouteRegionCommand(const RegionSettings& settings,
                                      const TrackedSwitches& switches,
                                      const TrackedRegions& regions,
                                      const Event& command, absl::Time now) {
  const switchboard::v1::Command& c = command.command();
  if (c.broadcast()) return RouteBroadcast(settings, regions, c);
  RegionCommandRoute route;
  const std::string unroutable = settings.unroutable_queue;
  const TargetGroups targets = GroupTargets(switches, c, now);
  const auto& groups = targets.groups;
  const auto& failed = targets.failed;
  if (failed.empty() && groups.size() == 1) {
    route.queues.push_back(RegionQueue(settings, groups.begin()->first));
    return route;
  }
  if (groups.empty()) {
    route.queues.push_back(unroutable);
  } else {
    for (const auto& [region, region_switches] : groups) {
      route.scoped.emplace_back(RegionQueue(settings, region),
                                ScopedCopy(command, region_switches));
    }
    if (!failed.empty()) {
      route.scoped.emplace_back(unroutable, ScopedCopy(command, failed));
    }
  }
  if (!failed.empty()) {
    route.error =
        absl::Status(targets.code,
                     absl::StrCat("command '", c.name(),
                                  "': ", absl::StrJoin(targets.reasons, "; "),
                                  "; kept in queue '", unroutable, "'",
                                  groups.empty() ? "" : " for those switches"));
  }
  return route;
}

}  // namespace switchboard::broadcaster
