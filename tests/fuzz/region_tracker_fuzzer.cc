// Sequences of region events, commands, ticks and settings changes through
// the RegionTracker (services/broadcaster/region_tracker.h), on a clock the
// input drives, as the broadcaster feeds it: region events and commands
// only when they pass ValidateRegionEvent, nothing but settings while
// tracking is off.
//
// Input: a program of operations, one byte of opcode and a few of operands
// each (see Run). Four regions, four switches, a few commands.
//
// Invariants:
//  - apps see one virtual connection per switch: `connected` and
//    `disconnected` alternate, starting with `connected`, and `updated`
//    comes only in between; GetSwitch's presence agrees with that history;
//  - the active region of a switch is one of its read-write connections,
//    and a switch with a read-write connection has an active region;
//  - every queue the tracker names (requests, command routes) is valid;
//  - regions count no more active switches than switches.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "services/broadcaster/region_tracker.h"
#include "services/common/logging.h"
#include "services/common/queue_name.h"
#include "switchboard/v1/event.pb.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using switchboard::broadcaster::RegionSettings;
using switchboard::broadcaster::RegionTracker;
using switchboard::v1::Event;
using switchboard::v1::SwitchStatus;

const char* const kRegions[] = {"r1", "r2", "r3", "r4"};
const char* const kSwitches[] = {"s1", "s2", "s3", "s4"};

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool done() const { return pos_ >= size_; }
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  const char* Region() { return kRegions[Byte() % 4]; }
  const char* Switch() { return kSwitches[Byte() % 4]; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

RegionSettings SettingsFor(uint8_t b) {
  RegionSettings s;
  s.enabled = (b & 1) == 0;
  s.presence = (b & 2) ? RegionSettings::Presence::kActivate
                       : RegionSettings::Presence::kConnect;
  s.periodic_sync = (b & 4) == 0;
  if (b & 8) {
    s.alive_interval = absl::Milliseconds(100);
    s.alive_timeout = absl::Milliseconds(250);
  }
  s.sync_interval = (b & 16) ? absl::Seconds(1) : absl::Seconds(60);
  s.grace_period = (b & 32) ? absl::ZeroDuration() : absl::Seconds(30);
  if (b & 64) s.known = {"r1", "r3"};
  return s;
}

class Checker {
 public:
  void Output(const RegionTracker::Output& out) {
    for (const auto& [queue, event] : out.requests) Queue(queue);
    for (const Event& e : out.switch_events) {
      const std::string& s = e.subject();
      bool& connected = connected_[s];
      if (e.type() == switchboard::broadcaster::kSwitchConnectedType) {
        SB_FUZZ_CHECK(!connected, "%s connected twice", s.c_str());
        connected = true;
      } else if (e.type() ==
                 switchboard::broadcaster::kSwitchDisconnectedType) {
        SB_FUZZ_CHECK(connected, "%s disconnected while not connected",
                      s.c_str());
        connected = false;
      } else {
        SB_FUZZ_CHECK(e.type() == switchboard::broadcaster::kSwitchUpdatedType,
                      "unknown type %s", e.type().c_str());
        SB_FUZZ_CHECK(connected, "%s updated while not connected", s.c_str());
      }
    }
  }

  void Route(const RegionTracker::CommandRoute& route) {
    for (const std::string& q : route.queues) Queue(q);
    for (const auto& [q, e] : route.scoped) Queue(q);
  }

  void State(const RegionTracker& tracker, absl::Time now) {
    for (const char* s : kSwitches) {
      const bool connected = connected_[s];
      auto sw = tracker.GetSwitch(s, now);
      if (!sw.has_value()) {
        SB_FUZZ_CHECK(!connected, "%s: apps saw it connected; it is gone", s);
        continue;
      }
      const bool shown = sw->presence() ==
                         switchboard::v1::SwitchConnections::CONNECTED;
      SB_FUZZ_CHECK(shown == connected,
                    "%s: presence %d, but apps last saw it %s", s,
                    static_cast<int>(sw->presence()),
                    connected ? "connected" : "disconnected");
      bool any_rw = false, active_rw = false;
      for (const auto& c : sw->connections()) {
        if (c.mode() != switchboard::v1::RW) continue;
        any_rw = true;
        if (c.region() == sw->active_region()) active_rw = true;
      }
      if (!sw->active_region().empty()) {
        SB_FUZZ_CHECK(active_rw, "%s: active region %s is not read-write", s,
                      sw->active_region().c_str());
      }
      SB_FUZZ_CHECK(!any_rw || !sw->active_region().empty(),
                    "%s: read-write connections but no active region", s);
    }
    for (const auto& r : tracker.ListRegions()) {
      SB_FUZZ_CHECK(r.active_switches() <= r.switches(),
                    "%s: %u active of %u switches", r.name().c_str(),
                    r.active_switches(), r.switches());
    }
  }

 private:
  static void Queue(const std::string& q) {
    const absl::Status s = switchboard::ValidateQueueName(q);
    SB_FUZZ_CHECK(s.ok(), "%s", std::string(s.message()).c_str());
  }

  std::map<std::string, bool> connected_;
};

void Run(Input& in) {
  absl::Time now = absl::FromUnixSeconds(1796299200);
  RegionSettings settings = SettingsFor(in.Byte() & ~1);  // starts enabled
  RegionTracker tracker(settings, now);
  Checker check;
  int ops = 0;
  while (!in.done() && ++ops <= 500) {
    const uint8_t op = in.Byte();
    switch (op % 8) {
      case 0:
      case 1: {  // a switch status from a speaker
        Event e;
        e.set_source("speaker");
        e.set_type("switch");
        auto* s = e.mutable_switch_status();
        s->set_region(in.Region());
        s->set_switch_id(in.Switch());
        const uint8_t b = in.Byte();
        s->set_change(static_cast<SwitchStatus::Change>((b & 7) % 7));
        s->set_mode(static_cast<switchboard::v1::ConnectionMode>((b >> 3) % 3));
        s->set_ip(absl::StrCat("10.0.0.", b >> 5));
        if (s->change() == SwitchStatus::DUMP) {
          const uint8_t n = in.Byte() % 4;
          for (int i = 0; i < n; ++i) {
            auto* c = s->add_connections();
            c->set_region(in.Region());
            c->set_mode(static_cast<switchboard::v1::ConnectionMode>(
                in.Byte() % 3));
          }
        }
        if (!settings.enabled) break;
        if (!ValidateRegionEvent(e, settings).ok()) break;
        check.Output(tracker.OnRegionEvent(&e, now));
        break;
      }
      case 2: {  // a port status or heartbeat: the region is alive
        Event e;
        if (op & 8) {
          auto* p = e.mutable_port_status();
          p->set_region(in.Region());
          p->set_switch_id(in.Switch());
          p->set_port(in.Byte());
        } else {
          e.mutable_heartbeat()->set_region(in.Region());
        }
        if (!settings.enabled) break;
        if (!ValidateRegionEvent(e, settings).ok()) break;
        check.Output(tracker.OnRegionEvent(&e, now));
        break;
      }
      case 3: {  // a command
        Event e;
        e.set_source("app");
        e.set_type("command");
        auto* c = e.mutable_command();
        c->set_name("flow_mod");
        const uint8_t targets = in.Byte();
        for (int i = 0; i < 4; ++i) {
          if (targets & (1 << i)) c->add_target_switches(kSwitches[i]);
        }
        if (targets & 16) c->add_target_switches("unknown");
        c->set_broadcast(targets & 32);
        if (!settings.enabled) break;
        if (!ValidateRegionEvent(e, settings).ok()) break;
        check.Route(tracker.RouteCommand(e, now));
        break;
      }
      case 4:
      case 5: {  // time passes: up to ~13 s, or minutes
        const uint8_t b = in.Byte();
        now += (op & 8) ? absl::Seconds(b) * 10 : absl::Milliseconds(b) * 50;
        if (settings.enabled) check.Output(tracker.Tick(now));
        break;
      }
      case 6: {  // a reload
        settings = SettingsFor(in.Byte());
        tracker.UpdateSettings(settings, now);
        break;
      }
      case 7: {  // northbound queries
        for (const char* r : kRegions) (void)tracker.ListSwitches(r, now);
        (void)tracker.ListSwitches("", now);
        break;
      }
    }
    check.State(tracker, now);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)switchboard::SetLogLevel("off");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  Run(in);
  return 0;
}
