#include "services/broadcaster/region_tracker.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard::broadcaster {
namespace {

using switchboard::v1::Event;
using switchboard::v1::SwitchConnections;
using switchboard::v1::SwitchStatus;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

Event SwitchEvent(const std::string& region, const std::string& sw,
                  SwitchStatus::Change change,
                  switchboard::v1::ConnectionMode mode = switchboard::v1::RW) {
  Event e;
  e.set_source(absl::StrCat("speaker/", region));
  e.set_type("speaker.switch");
  auto* s = e.mutable_switch_status();
  s->set_switch_id(sw);
  s->set_change(change);
  s->set_region(region);
  s->set_ip(absl::StrCat("10.0.0.", region.size()));
  s->set_mode(mode);
  return e;
}

Event PortEvent(const std::string& region, const std::string& sw) {
  Event e;
  e.set_source(absl::StrCat("speaker/", region));
  e.set_type("speaker.port");
  auto* p = e.mutable_port_status();
  p->set_switch_id(sw);
  p->set_port(1);
  p->set_state(switchboard::v1::PortStatus::DOWN);
  p->set_region(region);
  return e;
}

Event Heartbeat(const std::string& region) {
  Event e;
  e.set_source(absl::StrCat("speaker/", region));
  e.set_type("speaker.heartbeat");
  e.mutable_heartbeat()->set_region(region);
  return e;
}

Event CommandFor(std::vector<std::string> switches, bool broadcast = false) {
  Event e;
  e.set_source("kytos/flow_manager");
  e.set_type("kytos/flow_manager.install");
  e.mutable_command()->set_name("install_flow");
  e.mutable_command()->set_broadcast(broadcast);
  for (auto& s : switches) e.mutable_command()->add_target_switches(s);
  return e;
}

// "connected s1@a" style summaries of the virtual switch events.
std::vector<std::string> Virtual(const RegionTracker::Output& out) {
  std::vector<std::string> v;
  for (const Event& e : out.switch_events) {
    std::string change;
    switch (e.switch_status().change()) {
      case SwitchStatus::CONNECTED:
        change = "connected";
        break;
      case SwitchStatus::DISCONNECTED:
        change = "disconnected";
        break;
      case SwitchStatus::UPDATED:
        change = "updated";
        break;
      default:
        change = "?";
    }
    v.push_back(absl::StrCat(change, " ", e.switch_status().switch_id(), "@",
                             e.switch_status().region()));
  }
  return v;
}

// "queue:command(reason)" summaries of the requests to regions.
std::vector<std::string> Requests(const RegionTracker::Output& out) {
  std::vector<std::string> v;
  for (const auto& [queue, e] : out.requests) {
    std::string r = absl::StrCat(queue, ":", e.command().name());
    auto it = e.attributes().find(kDumpReasonAttribute);
    if (it != e.attributes().end()) absl::StrAppend(&r, "(", it->second, ")");
    v.push_back(r);
  }
  return v;
}

class RegionTrackerTest : public ::testing::Test {
 protected:
  RegionTrackerTest() : tracker_(RegionSettings(), kStart) {}

  RegionTracker::Output Send(Event e, absl::Duration at) {
    last_ = e;
    return tracker_.OnRegionEvent(&last_, kStart + at);
  }
  RegionTracker::Output Send(Event e) { return Send(std::move(e), now_); }

  std::string Active(const std::string& sw) {
    auto s = tracker_.GetSwitch(sw, kStart + now_);
    return s.has_value() ? s->active_region() : "<untracked>";
  }

  RegionTracker tracker_;
  Event last_;
  absl::Duration now_ = absl::ZeroDuration();
};

TEST_F(RegionTrackerTest, FailoverBetweenReadWriteRegionsIsOneVirtualLink) {
  auto out = Send(SwitchEvent("a", "s1", SwitchStatus::CONNECTED));
  EXPECT_FALSE(out.forward);
  EXPECT_TRUE(out.absorbed);
  EXPECT_THAT(Virtual(out), ElementsAre("connected s1@a"));
  // A first message from a region asks it for everything it holds.
  EXPECT_THAT(Requests(out), ElementsAre("region.a:dump_all_switches(return)"));

  out = Send(SwitchEvent("b", "s1", SwitchStatus::CONNECTED));
  EXPECT_THAT(Virtual(out), ElementsAre("updated s1@a"));
  EXPECT_EQ(out.switch_events[0].switch_status().connections_size(), 2);
  EXPECT_EQ(Active("s1"), "a");

  out = Send(SwitchEvent("a", "s1", SwitchStatus::DISCONNECTED));
  EXPECT_FALSE(out.forward);
  EXPECT_THAT(Virtual(out), ElementsAre("updated s1@b"));
  EXPECT_EQ(Active("s1"), "b");

  out = Send(SwitchEvent("b", "s1", SwitchStatus::DISCONNECTED));
  EXPECT_THAT(Virtual(out), ElementsAre("disconnected s1@b"));
  EXPECT_EQ(tracker_.GetSwitch("s1", kStart)->presence(),
            SwitchConnections::DISCONNECTED);
  // A repeated disconnect changes nothing.
  EXPECT_THAT(Virtual(Send(SwitchEvent("b", "s1", SwitchStatus::DISCONNECTED))),
              IsEmpty());
}

TEST_F(RegionTrackerTest, ActiveRegionStaysWhileItHoldsTheSwitch) {
  Send(SwitchEvent("a", "s1", SwitchStatus::CONNECTED));
  Send(SwitchEvent("b", "s1", SwitchStatus::CONNECTED));
  Send(SwitchEvent("c", "s1", SwitchStatus::CONNECTED));
  // b leaving is not a failover.
  auto out = Send(SwitchEvent("b", "s1", SwitchStatus::DISCONNECTED));
  EXPECT_THAT(Virtual(out), ElementsAre("updated s1@a"));
  // a leaving hands over to the next read-write region in connect order.
  out = Send(SwitchEvent("a", "s1", SwitchStatus::DISCONNECTED));
  EXPECT_THAT(Virtual(out), ElementsAre("updated s1@c"));
  // a coming back does not take over from c.
  out = Send(SwitchEvent("a", "s1", SwitchStatus::CONNECTED));
  EXPECT_THAT(Virtual(out), ElementsAre("updated s1@c"));
  EXPECT_EQ(Active("s1"), "c");
}

TEST_F(RegionTrackerTest, ReadOnlyPresenceIsNotAConnection) {
  auto out = Send(
      SwitchEvent("b", "s2", SwitchStatus::CONNECTED, switchboard::v1::RO));
  EXPECT_THAT(Virtual(out), IsEmpty());
  auto s2 = tracker_.GetSwitch("s2", kStart);
  ASSERT_TRUE(s2.has_value());
  EXPECT_EQ(s2->presence(), SwitchConnections::READ_ONLY);
  EXPECT_EQ(s2->active_region(), "");
  ASSERT_EQ(s2->connections_size(), 1);
  EXPECT_EQ(s2->connections(0).mode(), switchboard::v1::RO);

  auto route = tracker_.RouteCommand(CommandFor({"s2"}), kStart);
  EXPECT_EQ(route.error.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(route.error.message()),
              ::testing::HasSubstr("read-only only (b)"));
  EXPECT_THAT(route.queues, ElementsAre("unroutable"));

  // A read-write region makes it connected; the read-only one stays listed.
  out = Send(SwitchEvent("c", "s2", SwitchStatus::CONNECTED));
  EXPECT_THAT(Virtual(out), ElementsAre("connected s2@c"));
  EXPECT_EQ(out.switch_events[0].switch_status().connections_size(), 2);
  // Losing it leaves the read-only region: disconnected for apps.
  out = Send(SwitchEvent("c", "s2", SwitchStatus::DISCONNECTED));
  EXPECT_THAT(Virtual(out), ElementsAre("disconnected s2@c"));
  EXPECT_EQ(tracker_.GetSwitch("s2", kStart)->presence(),
            SwitchConnections::READ_ONLY);
}

TEST_F(RegionTrackerTest, ConnectModeTreatsRoleChangesAsModes) {
  Send(SwitchEvent("a", "s1", SwitchStatus::CONNECTED));
  Send(SwitchEvent("b", "s1", SwitchStatus::CONNECTED, switchboard::v1::RO));
  // a becomes slave: b is promoted when it becomes master.
  auto out = Send(SwitchEvent("a", "s1", SwitchStatus::DEACTIVATED));
  EXPECT_THAT(Virtual(out), ElementsAre("disconnected s1@a"));
  // a still holds it, read-only: no grace, commands are refused.
  EXPECT_EQ(tracker_.RouteCommand(CommandFor({"s1"}), kStart).error.code(),
            absl::StatusCode::kFailedPrecondition);
  out = Send(SwitchEvent("b", "s1", SwitchStatus::ACTIVATED));
  EXPECT_THAT(Virtual(out), ElementsAre("connected s1@b"));
  EXPECT_TRUE(out.absorbed);
}

TEST(RegionTrackerPresence, ActivateModeUsesActivateAndDeactivate) {
  RegionSettings settings;
  settings.presence = RegionSettings::Presence::kActivate;
  RegionTracker tracker(settings, kStart);
  Event e = SwitchEvent("a", "s1", SwitchStatus::CONNECTED);
  auto out = tracker.OnRegionEvent(&e, kStart);
  EXPECT_TRUE(out.absorbed);
  EXPECT_THAT(Virtual(out), IsEmpty());
  EXPECT_FALSE(tracker.GetSwitch("s1", kStart).has_value());

  e = SwitchEvent("a", "s1", SwitchStatus::ACTIVATED);
  EXPECT_THAT(Virtual(tracker.OnRegionEvent(&e, kStart)),
              ElementsAre("connected s1@a"));
  e = SwitchEvent("a", "s1", SwitchStatus::DEACTIVATED);
  EXPECT_THAT(Virtual(tracker.OnRegionEvent(&e, kStart)),
              ElementsAre("disconnected s1@a"));
  // A closed connection ends presence in this mode too.
  e = SwitchEvent("a", "s1", SwitchStatus::ACTIVATED);
  tracker.OnRegionEvent(&e, kStart);
  e = SwitchEvent("a", "s1", SwitchStatus::DISCONNECTED);
  EXPECT_THAT(Virtual(tracker.OnRegionEvent(&e, kStart)),
              ElementsAre("disconnected s1@a"));
}

TEST_F(RegionTrackerTest, GracePeriodKeepsRoutingUntilReplacedOrOver) {
  Send(SwitchEvent("a", "s1", SwitchStatus::CONNECTED));
  Send(SwitchEvent("a", "s1", SwitchStatus::DISCONNECTED), absl::Seconds(10));
  // Default grace: 900 s from the disconnect.
  auto route =
      tracker_.RouteCommand(CommandFor({"s1"}), kStart + absl::Seconds(909));
  EXPECT_TRUE(route.error.ok()) << route.error;
  EXPECT_THAT(route.queues, ElementsAre("region.a"));
  auto s1 = tracker_.GetSwitch("s1", kStart + absl::Seconds(20));
  EXPECT_EQ(s1->grace_region(), "a");
  EXPECT_EQ(s1->grace_until().seconds(),
            absl::ToUnixSeconds(kStart + absl::Seconds(910)));

  route =
      tracker_.RouteCommand(CommandFor({"s1"}), kStart + absl::Seconds(910));
  EXPECT_EQ(route.error.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(route.queues, ElementsAre("unroutable"));
  tracker_.Tick(kStart + absl::Seconds(911));
  EXPECT_FALSE(tracker_.GetSwitch("s1", kStart).has_value());
}

TEST_F(RegionTrackerTest, NewMappingReplacesTheGraceRegion) {
  Send(SwitchEvent("a", "s1", SwitchStatus::CONNECTED));
  Send(SwitchEvent("a", "s1", SwitchStatus::DISCONNECTED), absl::Seconds(1));
  auto out =
      Send(SwitchEvent("c", "s1", SwitchStatus::CONNECTED), absl::Seconds(2));
  EXPECT_THAT(Virtual(out), ElementsAre("connected s1@c"));
  auto route =
      tracker_.RouteCommand(CommandFor({"s1"}), kStart + absl::Seconds(3));
  EXPECT_THAT(route.queues, ElementsAre("region.c"));
  EXPECT_EQ(tracker_.GetSwitch("s1", kStart)->grace_region(), "");
}

TEST(RegionTrackerGrace, ZeroGraceForgetsAtOnce) {
  RegionSettings settings;
  settings.grace_period = absl::ZeroDuration();
  RegionTracker tracker(settings, kStart);
  Event e = SwitchEvent("a", "s1", SwitchStatus::CONNECTED);
  tracker.OnRegionEvent(&e, kStart);
  e = SwitchEvent("a", "s1", SwitchStatus::DISCONNECTED);
  tracker.OnRegionEvent(&e, kStart);
  EXPECT_EQ(tracker.RouteCommand(CommandFor({"s1"}), kStart).error.code(),
            absl::StatusCode::kNotFound);
}

TEST_F(RegionTrackerTest, AliveRequestThenTimeoutRemovesTheRegion) {
  Send(SwitchEvent("a", "s1", SwitchStatus::CONNECTED));  // a only
  Send(SwitchEvent("a", "s2", SwitchStatus::CONNECTED));  // a then b
  Send(SwitchEvent("b", "s2", SwitchStatus::CONNECTED));
  Send(SwitchEvent("b", "s3", SwitchStatus::CONNECTED));  // b only
  auto tick = [&](absl::Duration at) { return tracker_.Tick(kStart + at); };
  // b keeps talking; a goes quiet at 0.
  EXPECT_THAT(Requests(tick(absl::Milliseconds(1999))), IsEmpty());
  Send(Heartbeat("b"), absl::Seconds(2));
  EXPECT_THAT(Requests(tick(absl::Seconds(2))),
              ElementsAre("region.a:alive_request"));
  // Once per alive_interval, not on every tick.
  EXPECT_THAT(Requests(tick(absl::Seconds(3))), IsEmpty());
  Send(Heartbeat("b"), absl::Seconds(4));
  EXPECT_THAT(Requests(tick(absl::Seconds(4))),
              ElementsAre("region.a:alive_request"));
  Send(Heartbeat("b"), absl::Milliseconds(4999));
  auto out = tick(absl::Seconds(5));
  EXPECT_THAT(Virtual(out), ElementsAre("disconnected s1@a", "updated s2@b"));
  EXPECT_THAT(Requests(out), IsEmpty());
  EXPECT_EQ(Active("s2"), "b");
  EXPECT_EQ(Active("s3"), "b");
  auto regions = tracker_.ListRegions();
  ASSERT_EQ(regions.size(), 2u);
  EXPECT_FALSE(regions[0].alive());
  EXPECT_EQ(regions[0].switches(), 0u);
  EXPECT_TRUE(regions[1].alive());
  EXPECT_EQ(regions[1].switches(), 2u);
  EXPECT_EQ(regions[1].active_switches(), 2u);
  // The removed mapping still routes s1 to a (grace period).
  EXPECT_THAT(
      tracker_.RouteCommand(CommandFor({"s1"}), kStart + absl::Seconds(6))
          .queues,
      ElementsAre("region.a"));
}

TEST_F(RegionTrackerTest, ReturningRegionIsAskedForADumpAtOnce) {
  Send(SwitchEvent("a", "s1", SwitchStatus::CONNECTED));
  tracker_.Tick(kStart + absl::Seconds(5));  // a is down
  auto out = Send(Heartbeat("a"), absl::Seconds(7));
  EXPECT_TRUE(out.forward);
  EXPECT_THAT(Requests(out), ElementsAre("region.a:dump_all_switches(return)"));
  // Its dump brings the switch back.
  Event dump = SwitchEvent("a", "s1", SwitchStatus::DUMP);
  out = Send(dump, absl::Seconds(8));
  EXPECT_THAT(Virtual(out), ElementsAre("connected s1@a"));
  EXPECT_TRUE(out.forward);
  EXPECT_EQ(last_.switch_status().connections_size(), 1);
  // Once alive, no more dump requests on its messages.
  EXPECT_THAT(Requests(Send(Heartbeat("a"), absl::Seconds(9))), IsEmpty());
}

TEST_F(RegionTrackerTest, OnlyTheActiveRegionsUpdatesAreForwarded) {
  Send(SwitchEvent("a", "s1", SwitchStatus::CONNECTED));
  Send(SwitchEvent("b", "s1", SwitchStatus::CONNECTED), absl::Seconds(10));
  auto out = Send(PortEvent("a", "s1"));
  EXPECT_TRUE(out.forward);
  out = Send(PortEvent("b", "s1"));
  EXPECT_FALSE(out.forward);
  EXPECT_TRUE(out.dropped);
  out = Send(PortEvent("a", "unknown"));
  EXPECT_TRUE(out.dropped);

  out = Send(SwitchEvent("b", "s1", SwitchStatus::DUMP), absl::Seconds(30));
  EXPECT_TRUE(out.dropped);
  EXPECT_THAT(Virtual(out), IsEmpty());
  out = Send(SwitchEvent("a", "s1", SwitchStatus::DUMP), absl::Seconds(30));
  EXPECT_TRUE(out.forward);
  // The forwarded dump carries the availability data.
  const SwitchStatus& s = last_.switch_status();
  ASSERT_EQ(s.connections_size(), 2);
  EXPECT_EQ(s.connections(0).region(), "a");
  EXPECT_EQ(s.connections(0).uptime_seconds(), 30u);
  EXPECT_EQ(s.connections(0).mode(), switchboard::v1::RW);
  EXPECT_EQ(s.connections(0).ip(), "10.0.0.1");
  EXPECT_EQ(s.connections(1).region(), "b");
  EXPECT_EQ(s.connections(1).uptime_seconds(), 20u);
}

TEST_F(RegionTrackerTest, MultiSwitchCommandsAreScopedPerRegion) {
  Send(SwitchEvent("a", "s1", SwitchStatus::CONNECTED));
  Send(SwitchEvent("b", "s2", SwitchStatus::CONNECTED));
  Send(SwitchEvent("a", "s3", SwitchStatus::CONNECTED));

  auto route = tracker_.RouteCommand(CommandFor({"s1", "s3", "s1"}), kStart);
  EXPECT_TRUE(route.error.ok());
  EXPECT_THAT(route.queues, ElementsAre("region.a"));
  EXPECT_THAT(route.scoped, IsEmpty());

  route = tracker_.RouteCommand(CommandFor({"s1", "s2", "s9", "s3"}), kStart);
  EXPECT_EQ(route.error.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(route.error.message()), ::testing::HasSubstr("'s9'"));
  EXPECT_THAT(route.queues, IsEmpty());
  std::vector<std::pair<std::string, std::vector<std::string>>> scoped;
  for (const auto& [queue, e] : route.scoped) {
    scoped.emplace_back(
        queue, std::vector<std::string>(e.command().target_switches().begin(),
                                        e.command().target_switches().end()));
    EXPECT_EQ(e.command().name(), "install_flow");
  }
  EXPECT_THAT(scoped, ElementsAre(Pair("region.a", ElementsAre("s1", "s3")),
                                  Pair("region.b", ElementsAre("s2")),
                                  Pair("unroutable", ElementsAre("s9"))));
}

TEST_F(RegionTrackerTest, BroadcastGoesToEveryLiveRegion) {
  auto route = tracker_.RouteCommand(CommandFor({}, true), kStart);
  EXPECT_EQ(route.error.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(route.queues, ElementsAre("unroutable"));
  Send(Heartbeat("a"));
  Send(Heartbeat("b"));
  Send(Heartbeat("c"), absl::Seconds(4));
  route = tracker_.RouteCommand(CommandFor({}, true), kStart);
  EXPECT_THAT(route.queues, ElementsAre("region.a", "region.b", "region.c"));
  tracker_.Tick(kStart + absl::Seconds(6));  // a and b time out
  route = tracker_.RouteCommand(CommandFor({}, true), kStart);
  EXPECT_THAT(route.queues, ElementsAre("region.c"));
}

TEST(RegionTrackerSync, PeriodicDumpToLiveRegionsAndAliveRequestsToOthers) {
  RegionSettings settings;
  settings.known = {"a", "z"};
  RegionTracker tracker(settings, kStart);
  // Configured regions are asked at once whether they are alive.
  EXPECT_THAT(Requests(tracker.Tick(kStart)),
              ElementsAre("region.a:alive_request", "region.z:alive_request"));
  EXPECT_THAT(Requests(tracker.Tick(kStart + absl::Seconds(1))), IsEmpty());
  Event hb = Heartbeat("a");
  EXPECT_THAT(Requests(tracker.OnRegionEvent(&hb, kStart + absl::Seconds(59))),
              ElementsAre("region.a:dump_all_switches(return)"));
  EXPECT_THAT(Requests(tracker.Tick(kStart + absl::Seconds(60))),
              ElementsAre("region.a:dump_all_switches(sync)",
                          "region.z:alive_request"));
  EXPECT_THAT(Requests(tracker.Tick(kStart + absl::Seconds(61))), IsEmpty());

  settings.periodic_sync = false;
  tracker.UpdateSettings(settings, kStart + absl::Seconds(61));
  tracker.OnRegionEvent(&hb, kStart + absl::Seconds(120));
  EXPECT_THAT(Requests(tracker.Tick(kStart + absl::Seconds(121))), IsEmpty());
}

TEST(RegionTrackerReload, TurningTrackingBackOnDoesNotTimeRegionsOut) {
  RegionSettings settings;
  RegionTracker tracker(settings, kStart);
  Event e = SwitchEvent("a", "s1", SwitchStatus::CONNECTED);
  tracker.OnRegionEvent(&e, kStart);
  settings.enabled = false;
  tracker.UpdateSettings(settings, kStart + absl::Seconds(1));
  // Off for a minute: the broadcaster fed it nothing.
  settings.enabled = true;
  tracker.UpdateSettings(settings, kStart + absl::Seconds(61));
  auto out = tracker.Tick(kStart + absl::Seconds(62));
  EXPECT_THAT(Virtual(out), IsEmpty());
  EXPECT_EQ(tracker.GetSwitch("s1", kStart)->active_region(), "a");
  // Silent from then on, it times out as usual.
  out = tracker.Tick(kStart + absl::Seconds(66));
  EXPECT_THAT(Virtual(out), ElementsAre("disconnected s1@a"));
}

TEST_F(RegionTrackerTest, ListSwitchesFiltersByRegion) {
  Send(SwitchEvent("a", "s1", SwitchStatus::CONNECTED));
  Send(SwitchEvent("b", "s2", SwitchStatus::CONNECTED, switchboard::v1::RO));
  Send(SwitchEvent("b", "s1", SwitchStatus::CONNECTED));
  auto all = tracker_.ListSwitches("", kStart);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].switch_id(), "s1");
  EXPECT_EQ(all[1].switch_id(), "s2");
  EXPECT_EQ(tracker_.ListSwitches("a", kStart).size(), 1u);
  EXPECT_EQ(tracker_.ListSwitches("b", kStart).size(), 2u);
  EXPECT_THAT(tracker_.ListSwitches("nowhere", kStart), IsEmpty());
}

TEST(ValidateRegionEventTest, RejectsWhatTheTrackerCannotUse) {
  RegionSettings settings;
  Event e = SwitchEvent("a b", "s1", SwitchStatus::CONNECTED);
  EXPECT_THAT(std::string(ValidateRegionEvent(e, settings).message()),
              ::testing::HasSubstr("region 'a b' cannot name a region queue"));
  e = SwitchEvent("", "s1", SwitchStatus::CONNECTED);
  EXPECT_EQ(ValidateRegionEvent(e, settings).message(),
            "switch_status.region is empty: name the speaker's region");
  e = SwitchEvent("a", "", SwitchStatus::CONNECTED);
  EXPECT_EQ(ValidateRegionEvent(e, settings).code(),
            absl::StatusCode::kInvalidArgument);
  e = SwitchEvent("a", "s1", SwitchStatus::UPDATED);
  EXPECT_EQ(ValidateRegionEvent(e, settings).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      std::string(ValidateRegionEvent(CommandFor({}), settings).message()),
      ::testing::HasSubstr("no target_switches"));
  EXPECT_TRUE(ValidateRegionEvent(CommandFor({}, true), settings).ok());
  EXPECT_TRUE(ValidateRegionEvent(PortEvent("a", "s1"), settings).ok());
}

}  // namespace
}  // namespace switchboard::broadcaster
