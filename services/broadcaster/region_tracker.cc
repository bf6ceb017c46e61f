#include "services/broadcaster/region_tracker.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/time_util.h"
#include "services/common/logging.h"
#include "services/common/queue_name.h"
#include "services/common/status_macros.h"

namespace switchboard::broadcaster {
namespace {

using google::protobuf::util::TimeUtil;
using switchboard::v1::ConnectionMode;
using switchboard::v1::Event;
using switchboard::v1::SwitchConnections;
using switchboard::v1::SwitchStatus;

google::protobuf::Timestamp ToProto(absl::Time t) {
  return TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

uint64_t Seconds(absl::Duration d) {
  return d <= absl::ZeroDuration()
             ? 0
             : static_cast<uint64_t>(absl::ToInt64Seconds(d));
}

}  // namespace

absl::StatusOr<RegionSettings> ParseRegionSettings(const ConfigNode& config) {
  RegionSettings s;
  SB_ASSIGN_OR_RETURN(ConfigNode node, config.Child("regions"));
  std::string presence = "connect";
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
  SB_RETURN_IF_ERROR(node.CheckAllKeysKnown());
  if (presence == "connect") {
    s.presence = RegionSettings::Presence::kConnect;
  } else if (presence == "activate") {
    s.presence = RegionSettings::Presence::kActivate;
  } else {
    return node.Error("presence", absl::StrCat("expected 'connect' or "
                                               "'activate', got '",
                                               presence, "'"));
  }
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
  return s;
}

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
    if (event.switch_status().switch_id().empty()) {
      return absl::InvalidArgumentError("switch_status.switch_id is empty");
    }
    if (event.switch_status().change() == SwitchStatus::CHANGE_UNSPECIFIED) {
      return absl::InvalidArgumentError(
          "switch_status.change is unset: CONNECTED, DISCONNECTED, "
          "ACTIVATED, DEACTIVATED or DUMP");
    }
    if (event.switch_status().change() == SwitchStatus::UPDATED) {
      return absl::InvalidArgumentError(
          "switch_status.change UPDATED is the broadcaster's own; speakers "
          "report CONNECTED, DISCONNECTED, ACTIVATED, DEACTIVATED or DUMP");
    }
    if (region.empty()) {
      return absl::InvalidArgumentError(
          "switch_status.region is empty: name the speaker's region");
    }
  }
  if (event.has_port_status() && region.empty()) {
    return absl::InvalidArgumentError(
        "port_status.region is empty: name the speaker's region");
  }
  if (event.has_command()) {
    const switchboard::v1::Command& c = event.command();
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
  }
  return absl::OkStatus();
}

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

std::string RegionTracker::RegionQueue(const std::string& region) const {
  return absl::StrCat(settings_.queue_prefix, region);
}

Event RegionTracker::NewEvent(const std::string& type, absl::Time now) const {
  Event e;
  e.set_source(settings_.source);
  e.set_type(type);
  *e.mutable_time() = ToProto(now);
  return e;
}

void RegionTracker::Request(const std::string& region, const std::string& type,
                            const std::string& command,
                            const std::string& reason, absl::Time now,
                            Output* out) {
  Event e = NewEvent(type, now);
  e.set_subject(region);
  e.mutable_command()->set_name(command);
  // For a request in one region's queue, broadcast means "all your
  // switches".
  e.mutable_command()->set_broadcast(true);
  if (!reason.empty()) {
    (*e.mutable_attributes())[kDumpReasonAttribute] = reason;
  }
  out->requests.emplace_back(RegionQueue(region), std::move(e));
  regions_[region].last_request = now;
}

void RegionTracker::Seen(const std::string& region, absl::Time now,
                         Output* out) {
  RegionState& r = regions_[region];
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
  Request(region, kDumpRequestType, kDumpAllSwitchesCommand, "return", now,
          out);
}

void RegionTracker::FillConnections(const SwitchState& state, absl::Time now,
                                    SwitchStatus* status) const {
  status->clear_connections();
  for (const Connection& c : state.connections) {
    auto* out = status->add_connections();
    out->set_region(c.region);
    out->set_ip(c.ip);
    out->set_mode(c.mode);
    out->set_uptime_seconds(Seconds(now - c.since));
  }
}

void RegionTracker::AddConnection(SwitchState& state, const SwitchStatus& s,
                                  absl::Time now) {
  state.connections.push_back(Connection{s.region(), s.ip(),
                                         s.mode() == switchboard::v1::RO
                                             ? switchboard::v1::RO
                                             : switchboard::v1::RW,
                                         now});
}

void RegionTracker::Settle(const std::string& switch_id, SwitchState& state,
                           bool connections_changed, absl::Time now,
                           Output* out) {
  const std::string old_active = state.active;
  const bool was_connected = !old_active.empty();
  auto read_write = [&state](const std::string& region) {
    return std::any_of(state.connections.begin(), state.connections.end(),
                       [&region](const Connection& c) {
                         return c.region == region &&
                                c.mode == switchboard::v1::RW;
                       });
  };
  if (!state.active.empty() && !read_write(state.active)) state.active.clear();
  if (state.active.empty()) {
    for (const Connection& c : state.connections) {
      if (c.mode == switchboard::v1::RW) {
        state.active = c.region;
        break;
      }
    }
  }
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
    const bool still_there = std::any_of(
        state.connections.begin(), state.connections.end(),
        [&old_active](const Connection& c) { return c.region == old_active; });
    if (!still_there) {
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
  Event e = NewEvent(type, now);
  e.set_subject(switch_id);
  SwitchStatus* s = e.mutable_switch_status();
  s->set_switch_id(switch_id);
  s->set_change(change);
  s->set_region(region);
  for (const Connection& c : state.connections) {
    if (c.region == state.active) {
      s->set_ip(c.ip);
      s->set_mode(c.mode);
    }
  }
  FillConnections(state, now, s);
  out->switch_events.push_back(std::move(e));
  if (old_active != state.active) {
    Logger("regions")->info("switch {}: active region {} -> {}", switch_id,
                            old_active.empty() ? "none" : old_active,
                            state.active.empty() ? "none" : state.active);
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

  auto it = switches_.find(s.switch_id());
  auto find_connection = [&](SwitchState& state) {
    return std::find_if(
        state.connections.begin(), state.connections.end(),
        [&s](const Connection& c) { return c.region == s.region(); });
  };

  if (change == up || change == SwitchStatus::DUMP) {
    if (it == switches_.end()) {
      it = switches_.emplace(s.switch_id(), SwitchState()).first;
    }
    SwitchState& state = it->second;
    bool changed = false;
    auto c = find_connection(state);
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
    if (change == SwitchStatus::DUMP) {
      // A dump is state, not a connection change: apps get it from the
      // region that controls the switch only.
      if (state.active == s.region()) {
        FillConnections(state, now, event->mutable_switch_status());
      } else {
        out->forward = false;
        out->dropped = true;
      }
      return;
    }
  } else if (change == down || change == SwitchStatus::DISCONNECTED) {
    // A closed connection ends presence in either mode: a disconnected
    // region cannot be active.
    if (it != switches_.end()) {
      auto c = find_connection(it->second);
      if (c != it->second.connections.end()) {
        it->second.connections.erase(c);
        Settle(s.switch_id(), it->second, true, now, out);
      }
    }
  } else if (connect_mode && (change == SwitchStatus::ACTIVATED ||
                              change == SwitchStatus::DEACTIVATED)) {
    // The role changed on a tracked connection: that is its mode.
    if (it != switches_.end()) {
      auto c = find_connection(it->second);
      const ConnectionMode mode = change == SwitchStatus::ACTIVATED
                                      ? switchboard::v1::RW
                                      : switchboard::v1::RO;
      if (c != it->second.connections.end() && c->mode != mode) {
        c->mode = mode;
        Settle(s.switch_id(), it->second, true, now, out);
      }
    }
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
    auto gone = std::remove_if(cs.begin(), cs.end(), [&](const Connection& c) {
      return c.region == region;
    });
    if (gone == cs.end()) continue;
    cs.erase(gone, cs.end());
    Settle(id, state, true, now, out);
  }
}

RegionTracker::Output RegionTracker::Tick(absl::Time now) {
  absl::MutexLock lock(&mu_);
  Output out;
  for (auto& [name, r] : regions_) {
    if (!r.alive) {
      // Configured but never heard from: ask once at start; later asks
      // come with each sync.
      if (r.last_request == absl::InfinitePast()) {
        Request(name, kAliveRequestType, kAliveRequestCommand, "", now, &out);
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
      RegionDown(name, now, &out);
    } else if (quiet >= settings_.alive_interval &&
               now - r.last_request >= settings_.alive_interval) {
      Request(name, kAliveRequestType, kAliveRequestCommand, "", now, &out);
    }
  }
  for (auto it = switches_.begin(); it != switches_.end();) {
    if (it->second.connections.empty() && it->second.grace_until <= now) {
      it = switches_.erase(it);
    } else {
      ++it;
    }
  }
  if (settings_.periodic_sync && now >= next_sync_) {
    next_sync_ = now + settings_.sync_interval;
    for (auto& [name, r] : regions_) {
      if (r.alive) {
        Request(name, kDumpRequestType, kDumpAllSwitchesCommand, "sync", now,
                &out);
      } else {
        Request(name, kAliveRequestType, kAliveRequestCommand, "", now, &out);
      }
    }
  }
  return out;
}

absl::StatusOr<std::string> RegionTracker::CommandRegion(
    const std::string& switch_id, absl::Time now) const {
  auto it = switches_.find(switch_id);
  if (it == switches_.end()) {
    return absl::NotFoundError(absl::StrCat(
        "no region serves switch '", switch_id,
        "' (never reported, or gone for longer than the grace period)"));
  }
  const SwitchState& state = it->second;
  if (!state.active.empty()) return state.active;
  if (!state.grace_region.empty() && now < state.grace_until) {
    return state.grace_region;
  }
  if (!state.connections.empty()) {
    std::vector<std::string> regions;
    for (const Connection& c : state.connections) regions.push_back(c.region);
    return absl::FailedPreconditionError(absl::StrCat(
        "switch '", switch_id, "' is held read-only only (",
        absl::StrJoin(regions, ", "), "): no region can command it"));
  }
  return absl::NotFoundError(
      absl::StrCat("no region serves switch '", switch_id,
                   "' any more (its grace period ended)"));
}

RegionTracker::CommandRoute RegionTracker::RouteCommand(const Event& command,
                                                        absl::Time now) {
  absl::ReaderMutexLock lock(&mu_);
  CommandRoute route;
  const switchboard::v1::Command& c = command.command();
  const std::string unroutable = settings_.unroutable_queue;
  if (c.broadcast()) {
    for (const auto& [name, r] : regions_) {
      if (r.alive) route.queues.push_back(RegionQueue(name));
    }
    if (route.queues.empty()) {
      route.queues.push_back(unroutable);
      route.error = absl::FailedPreconditionError(
          absl::StrCat("broadcast command '", c.name(),
                       "': no live region; kept in queue '", unroutable, "'"));
    }
    return route;
  }
  // Region -> its switches, in target order.
  std::map<std::string, std::vector<std::string>> groups;
  std::vector<std::string> failed;
  std::vector<std::string> reasons;
  absl::StatusCode code = absl::StatusCode::kFailedPrecondition;
  std::set<std::string> seen;
  for (const std::string& target : c.target_switches()) {
    if (!seen.insert(target).second) continue;
    absl::StatusOr<std::string> region = CommandRegion(target, now);
    if (region.ok()) {
      groups[*region].push_back(target);
      continue;
    }
    failed.push_back(target);
    reasons.emplace_back(region.status().message());
    if (region.status().code() == absl::StatusCode::kNotFound) {
      code = absl::StatusCode::kNotFound;
    }
  }
  if (failed.empty() && groups.size() == 1) {
    route.queues.push_back(RegionQueue(groups.begin()->first));
    return route;
  }
  auto scoped = [&](const std::string& queue,
                    const std::vector<std::string>& switches) {
    Event copy = command;
    auto* targets = copy.mutable_command()->mutable_target_switches();
    targets->Clear();
    for (const std::string& s : switches) targets->Add(std::string(s));
    route.scoped.emplace_back(queue, std::move(copy));
  };
  if (groups.empty()) {
    route.queues.push_back(unroutable);
  } else {
    for (const auto& [region, switches] : groups) {
      scoped(RegionQueue(region), switches);
    }
    if (!failed.empty()) scoped(unroutable, failed);
  }
  if (!failed.empty()) {
    route.error = absl::Status(
        code,
        absl::StrCat("command '", c.name(), "': ", absl::StrJoin(reasons, "; "),
                     "; kept in queue '", unroutable, "'",
                     groups.empty() ? "" : " for those switches"));
  }
  return route;
}

SwitchConnections RegionTracker::Describe(const std::string& switch_id,
                                          const SwitchState& state,
                                          absl::Time now) const {
  SwitchConnections out;
  out.set_switch_id(switch_id);
  out.set_active_region(state.active);
  if (!state.active.empty()) {
    out.set_presence(SwitchConnections::CONNECTED);
    out.set_uptime_seconds(Seconds(now - state.connected_since));
  } else if (!state.connections.empty()) {
    out.set_presence(SwitchConnections::READ_ONLY);
  } else {
    out.set_presence(SwitchConnections::DISCONNECTED);
  }
  if (state.active.empty() && !state.grace_region.empty() &&
      now < state.grace_until) {
    out.set_grace_region(state.grace_region);
    *out.mutable_grace_until() = ToProto(state.grace_until);
  }
  for (const Connection& c : state.connections) {
    auto* o = out.add_connections();
    o->set_region(c.region);
    o->set_ip(c.ip);
    o->set_mode(c.mode);
    o->set_uptime_seconds(Seconds(now - c.since));
  }
  return out;
}

std::optional<SwitchConnections> RegionTracker::GetSwitch(
    const std::string& switch_id, absl::Time now) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = switches_.find(switch_id);
  if (it == switches_.end()) return std::nullopt;
  return Describe(it->first, it->second, now);
}

std::vector<SwitchConnections> RegionTracker::ListSwitches(
    const std::string& region, absl::Time now) const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<SwitchConnections> out;
  for (const auto& [id, state] : switches_) {
    if (!region.empty() &&
        std::none_of(state.connections.begin(), state.connections.end(),
                     [&](const Connection& c) { return c.region == region; })) {
      continue;
    }
    out.push_back(Describe(id, state, now));
  }
  return out;
}

std::vector<switchboard::v1::RegionState> RegionTracker::ListRegions() const {
  absl::ReaderMutexLock lock(&mu_);
  std::map<std::string, std::pair<uint32_t, uint32_t>> counts;
  for (const auto& [id, state] : switches_) {
    for (const Connection& c : state.connections) ++counts[c.region].first;
    if (!state.active.empty()) ++counts[state.active].second;
  }
  std::vector<switchboard::v1::RegionState> out;
  for (const auto& [name, r] : regions_) {
    switchboard::v1::RegionState& o = out.emplace_back();
    o.set_name(name);
    o.set_alive(r.alive);
    if (r.last_seen != absl::InfinitePast()) {
      *o.mutable_last_seen() = ToProto(r.last_seen);
    }
    o.set_switches(counts[name].first);
    o.set_active_switches(counts[name].second);
  }
  return out;
}

}  // namespace switchboard::broadcaster
