#include "services/broadcaster/region_tracker.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "services/broadcaster/region_views.h"
#include "services/common/logging.h"

namespace switchboard::broadcaster {
namespace {

using switchboard::v1::ConnectionMode;
using switchboard::v1::Event;
using switchboard::v1::SwitchConnections;
using switchboard::v1::SwitchStatus;

std::vector<TrackedConnection>::iterator FindConnection(
    TrackedSwitch& state, const std::string& region) {
  return std::find_if(
      state.connections.begin(), state.connections.end(),
      [&region](const TrackedConnection& c) { return c.region == region; });
}

void AddConnection(TrackedSwitch& state, const SwitchStatus& s,
                   absl::Time now) {
  state.connections.push_back(TrackedConnection{s.region(), s.ip(),
                                                s.mode() == switchboard::v1::RO
                                                    ? switchboard::v1::RO
                                                    : switchboard::v1::RW,
                                                now});
}

// Replaces the connections in `status` with those of `state`.
void FillConnections(const TrackedSwitch& state, absl::Time now,
                     SwitchStatus* status) {
  status->clear_connections();
  AppendConnections(state.connections, now, status->mutable_connections());
}

// Keeps the active region while it holds the switch read-write; else
// elects the first read-write one (none: empty).
void ElectActive(TrackedSwitch& state) {
  auto read_write = [&state](const std::string& region) {
    return std::any_of(state.connections.begin(), state.connections.end(),
                       [&region](const TrackedConnection& c) {
                         return c.region == region &&
                                c.mode == switchboard::v1::RW;
                       });
  };
  if (!state.active.empty() && !read_write(state.active)) state.active.clear();
  if (state.active.empty()) {
    for (const TrackedConnection& c : state.connections) {
      if (c.mode == switchboard::v1::RW) {
        state.active = c.region;
        break;
      }
    }
  }
}

// The virtual switch event `type` for `switch_id`, as seen from `region`
// (with the active region's ip and mode, and every connection).
Event VirtualSwitchEvent(const RegionSettings& settings,
                         const std::string& switch_id,
                         const TrackedSwitch& state, const char* type,
                         SwitchStatus::Change change, const std::string& region,
                         absl::Time now) {
  Event e = NewTrackerEvent(settings, type, now);
  e.set_subject(switch_id);
  SwitchStatus* s = e.mutable_switch_status();
  s->set_switch_id(switch_id);
  s->set_change(change);
  s->set_region(region);
  for (const TrackedConnection& c : state.connections) {
    if (c.region == state.active) {
      s->set_ip(c.ip);
      s->set_mode(c.mode);
    }
  }
  FillConnections(state, now, s);
  return e;
}

}  // namespace

RegionTracker::RegionTracker(RegionSettings settings, absl::Time now)
    : settings_(std::move(settings)),
      next_sync_(now + settings_.sync_interval) {
  for (const std::string& region : settings_.known) regions_[region];
}

void RegionTracker::UpdateSettings(RegionSettings settings, absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (settings.enabled && !settings_.enabled) {
    for (auto& [name, r] : regions_) {
      if (r.alive) r.last_seen = now;
    }
    next_sync_ = now + settings.sync_interval;
  }
  if (settings.sync_interval != settings_.sync_interval) {
    next_sync_ = next_sync_ - settings_.sync_interval + settings.sync_interval;
  }
  for (const std::string& region : settings.known) regions_[region];
  settings_ = std::move(settings);
}

void RegionTracker::Request(const std::string& region, const std::string& type,
                            const std::string& command,
                            const std::string& reason, absl::Time now,
                            Output* out) {
  out->requests.push_back(
      RegionRequest(settings_, region, type, command, reason, now));
  regions_[region].last_request = now;
}

void RegionTracker::Seen(const std::string& region, absl::Time now,
                         Output* out) {
  TrackedRegion& r = regions_[region];
  const bool returning = !r.alive;
  r.alive = true;
  r.last_seen = now;
  if (!returning) return;
  Logger("regions")->info(
      "region {} is alive{}; requesting a dump of its switches", region,
      r.ever_seen ? " again" : "");
  r.ever_seen = true;
  // Whatever it reported while we did not listen (or before we started)
  // is unknown: ask for all of it.
  Request(region, kDumpRequestType, kDumpAllSwitchesCommand, kDumpReasonReturn,
          now, out);
}

void RegionTracker::Settle(const std::string& switch_id, TrackedSwitch& state,
                           bool connections_changed, absl::Time now,
                           Output* out) {
  const std::string old_active = state.active;
  const bool was_connected = !old_active.empty();
  ElectActive(state);
  const char* type = nullptr;
  SwitchStatus::Change change = SwitchStatus::CHANGE_UNSPECIFIED;
  std::string region = state.active;
  if (!was_connected && !state.active.empty()) {
    state.connected_since = now;
    state.grace_region.clear();
    state.grace_until = absl::InfinitePast();
    type = kSwitchConnectedType;
    change = SwitchStatus::CONNECTED;
  } else if (was_connected && state.active.empty()) {
    // Commands keep going to a region that went away (it may come back);
    // one that stays read-only cannot take them.
    if (FindConnection(state, old_active) == state.connections.end()) {
      state.grace_region = old_active;
      state.grace_until = now + settings_.grace_period;
    }
    type = kSwitchDisconnectedType;
    change = SwitchStatus::DISCONNECTED;
    region = old_active;
  } else if (was_connected &&
             (connections_changed || old_active != state.active)) {
    type = kSwitchUpdatedType;
    change = SwitchStatus::UPDATED;
  }
  if (type == nullptr) return;
  out->switch_events.push_back(VirtualSwitchEvent(settings_, switch_id, state,
                                                  type, change, region, now));
  if (old_active != state.active) {
    Logger("regions")->info("switch {}: active region {} -> {}", switch_id,
                            old_active.empty() ? "none" : old_active,
                            state.active.empty() ? "none" : state.active);
  }
}

TrackedSwitch& RegionTracker::ConnectionUp(const SwitchStatus& s,
                                           absl::Time now, Output* out) {
  TrackedSwitch& state = switches_[s.switch_id()];
  bool changed = false;
  auto c = FindConnection(state, s.region());
  if (c == state.connections.end()) {
    AddConnection(state, s, now);
    changed = true;
  } else {
    if (!s.ip().empty() && s.ip() != c->ip) {
      c->ip = s.ip();
      changed = true;
    }
    if (s.mode() != switchboard::v1::CONNECTION_MODE_UNSPECIFIED &&
        s.mode() != c->mode) {
      c->mode = s.mode();
      changed = true;
    }
  }
  Settle(s.switch_id(), state, changed, now, out);
  return state;
}

void RegionTracker::ConnectionDown(const SwitchStatus& s, absl::Time now,
                                   Output* out) {
  auto it = switches_.find(s.switch_id());
  if (it == switches_.end()) return;
  auto c = FindConnection(it->second, s.region());
  if (c == it->second.connections.end()) return;
  it->second.connections.erase(c);
  Settle(s.switch_id(), it->second, true, now, out);
}

void RegionTracker::ModeChange(const SwitchStatus& s, ConnectionMode mode,
                               absl::Time now, Output* out) {
  auto it = switches_.find(s.switch_id());
  if (it == switches_.end()) return;
  auto c = FindConnection(it->second, s.region());
  if (c == it->second.connections.end() || c->mode == mode) return;
  c->mode = mode;
  Settle(s.switch_id(), it->second, true, now, out);
}

void RegionTracker::HandleDump(Event* event, absl::Time now, Output* out) {
  const TrackedSwitch& state = ConnectionUp(event->switch_status(), now, out);
  // A dump is state, not a connection change: apps get it from the
  // region that controls the switch only.
  if (state.active == event->switch_status().region()) {
    FillConnections(state, now, event->mutable_switch_status());
  } else {
    out->forward = false;
    out->dropped = true;
  }
}

void RegionTracker::HandleSwitchStatus(Event* event, absl::Time now,
                                       Output* out) {
  const SwitchStatus& s = event->switch_status();
  const bool connect_mode =
      settings_.presence == RegionSettings::Presence::kConnect;
  const SwitchStatus::Change up =
      connect_mode ? SwitchStatus::CONNECTED : SwitchStatus::ACTIVATED;
  const SwitchStatus::Change down =
      connect_mode ? SwitchStatus::DISCONNECTED : SwitchStatus::DEACTIVATED;
  const SwitchStatus::Change change = s.change();

  if (change == SwitchStatus::DUMP) {
    HandleDump(event, now, out);
    return;
  }
  if (change == up) {
    ConnectionUp(s, now, out);
  } else if (change == down || change == SwitchStatus::DISCONNECTED) {
    // A closed connection ends presence in either mode: a disconnected
    // region cannot be active.
    ConnectionDown(s, now, out);
  } else if (connect_mode && (change == SwitchStatus::ACTIVATED ||
                              change == SwitchStatus::DEACTIVATED)) {
    // The role changed on a tracked connection: that is its mode.
    ModeChange(s,
               change == SwitchStatus::ACTIVATED ? switchboard::v1::RW
                                                 : switchboard::v1::RO,
               now, out);
  }
  // Connection events are replaced by the virtual connection (or nothing).
  out->forward = false;
  out->absorbed = true;
}

RegionTracker::Output RegionTracker::OnRegionEvent(Event* event,
                                                   absl::Time now) {
  absl::MutexLock lock(&mu_);
  Output out;
  const std::string region = EventRegion(*event);
  Seen(region, now, &out);
  if (event->has_switch_status()) {
    HandleSwitchStatus(event, now, &out);
  } else if (event->has_port_status()) {
    auto it = switches_.find(event->port_status().switch_id());
    if (it == switches_.end() || it->second.active != region) {
      out.forward = false;
      out.dropped = true;
    }
  }
  return out;
}

void RegionTracker::RegionDown(const std::string& region, absl::Time now,
                               Output* out) {
  for (auto& [id, state] : switches_) {
    auto& cs = state.connections;
    auto gone = std::remove_if(
        cs.begin(), cs.end(),
        [&](const TrackedConnection& c) { return c.region == region; });
    if (gone == cs.end()) continue;
    cs.erase(gone, cs.end());
    Settle(id, state, true, now, out);
  }
}

void RegionTracker::CheckRegions(absl::Time now, Output* out) {
  for (auto& [name, r] : regions_) {
    if (!r.alive) {
      // Configured but never heard from: ask once at start; later asks
      // come with each sync.
      if (r.last_request == absl::InfinitePast()) {
        Request(name, kAliveRequestType, kAliveRequestCommand, "", now, out);
      }
      continue;
    }
    const absl::Duration quiet = now - r.last_seen;
    if (quiet >= settings_.alive_timeout) {
      Logger("regions")->warn(
          "region {} silent for {} (alive_timeout {}): down, its switch "
          "connections are removed",
          name, absl::FormatDuration(quiet),
          absl::FormatDuration(settings_.alive_timeout));
      r.alive = false;
      r.last_request = now;
      RegionDown(name, now, out);
    } else if (quiet >= settings_.alive_interval &&
               now - r.last_request >= settings_.alive_interval) {
      Request(name, kAliveRequestType, kAliveRequestCommand, "", now, out);
    }
  }
}

void RegionTracker::ForgetGoneSwitches(absl::Time now) {
  for (auto it = switches_.begin(); it != switches_.end();) {
    if (it->second.connections.empty() && it->second.grace_until <= now) {
      it = switches_.erase(it);
    } else {
      ++it;
    }
  }
}

void RegionTracker::PeriodicSync(absl::Time now, Output* out) {
  if (!settings_.periodic_sync || now < next_sync_) return;
  next_sync_ = now + settings_.sync_interval;
  for (auto& [name, r] : regions_) {
    if (r.alive) {
      Request(name, kDumpRequestType, kDumpAllSwitchesCommand, kDumpReasonSync,
              now, out);
    } else {
      Request(name, kAliveRequestType, kAliveRequestCommand, "", now, out);
    }
  }
}

RegionTracker::Output RegionTracker::Tick(absl::Time now) {
  absl::MutexLock lock(&mu_);
  Output out;
  CheckRegions(now, &out);
  ForgetGoneSwitches(now);
  PeriodicSync(now, &out);
  return out;
}

RegionTracker::CommandRoute RegionTracker::RouteCommand(const Event& command,
                                                        absl::Time now) {
  absl::ReaderMutexLock lock(&mu_);
  return RouteRegionCommand(settings_, switches_, regions_, command, now);
}

std::optional<SwitchConnections> RegionTracker::GetSwitch(
    const std::string& switch_id, absl::Time now) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = switches_.find(switch_id);
  if (it == switches_.end()) return std::nullopt;
  return DescribeSwitch(it->first, it->second, now);
}

std::vector<SwitchConnections> RegionTracker::ListSwitches(
    const std::string& region, absl::Time now) const {
  absl::ReaderMutexLock lock(&mu_);
  return DescribeSwitches(switches_, region, now);
}

std::vector<switchboard::v1::RegionState> RegionTracker::ListRegions() const {
  absl::ReaderMutexLock lock(&mu_);
  return DescribeRegions(switches_, regions_);
}

}  // namespace switchboard::broadcaster
