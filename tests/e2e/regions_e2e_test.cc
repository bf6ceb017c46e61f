// Regions end to end: three real speaker processes (tools/speaker) in
// regions a, b and c share switches; the broadcaster tracks them, routes
// commands, and fails over when region a's speaker is killed.
//
//   switch  a    b    c     active
//   s1      RW   -    RO    a  (only a can command it)
//   s2      RW   RW   -     a, then b
//   s3      -    RW   RW    b
//   s4      RO   RO   -     none: read-only everywhere
//   s5      -    -    RW    c
#include <signal.h>

#include <map>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/v1/regions.grpc.pb.h"
#include "tests/testing/cluster.h"

namespace switchboard::testing {
namespace {

using switchboard::v1::Event;
using switchboard::v1::EventDelivery;
using switchboard::v1::SwitchConnections;
using switchboard::v1::SwitchStatus;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

class RegionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Cluster::Options options;
    options.broadcaster_yaml +=
        "routing:\n"
        "  queues:\n"
        "    switches: {allow: ['switchboard\\.switch\\..*']}\n"
        "    receipts: {allow: ['speaker\\.command\\.received']}\n"
        "    dumps: {allow: ['speaker\\.switch\\.dump']}\n"
        "regions:\n"
        "  alive_interval: 500ms\n"
        "  alive_timeout: 2s\n"
        "  periodic_sync: false\n"
        "  grace_period: 1h\n"
        "metrics:\n"
        "  listen: 127.0.0.1:0\n";
    auto cluster = Cluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    regions_ = switchboard::v1::Regions::NewStub(grpc::CreateChannel(
        cluster_->broadcaster_address(), grpc::InsecureChannelCredentials()));
    // The broadcaster declares its queues once its bridge session opens.
    for (const char* queue : {"switches", "receipts", "dumps"}) {
      ASSERT_TRUE(cluster_->AwaitDepth(queue, 0));
    }
    auto switches = Subscriber::Open(cluster_->consumer_address(), {"switches"},
                                     1000, true);
    auto receipts = Subscriber::Open(cluster_->consumer_address(), {"receipts"},
                                     1000, true);
    auto dumps =
        Subscriber::Open(cluster_->consumer_address(), {"dumps"}, 1000, true);
    ASSERT_TRUE(switches.ok() && receipts.ok() && dumps.ok());
    switches_ = *std::move(switches);
    receipts_ = *std::move(receipts);
    dumps_ = *std::move(dumps);
  }

  std::unique_ptr<Process> StartSpeaker(const std::string& region,
                                        const std::string& switches) {
    Process::Options options;
    options.stderr_path =
        absl::StrCat(cluster_->dir(), "/speaker-", region, ".log");
    auto p =
        Process::Start(Runfile("tools/speaker/speaker"),
                       {"--region=" + region, "--switches=" + switches,
                        "--ip=10.0.0." + std::to_string(region[0] - 'a' + 1),
                        "--broadcaster=" + cluster_->broadcaster_address(),
                        "--consumer=" + cluster_->consumer_address(),
                        "--heartbeat_interval=200ms"},
                       options);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *std::move(p) : nullptr;
  }

  std::optional<SwitchConnections> Get(const std::string& sw) {
    grpc::ClientContext context;
    switchboard::v1::GetSwitchConnectionsRequest request;
    request.set_switch_id(sw);
    SwitchConnections response;
    grpc::Status s =
        regions_->GetSwitchConnections(&context, request, &response);
    if (!s.ok()) return std::nullopt;
    return response;
  }
  std::string Active(const std::string& sw) {
    auto s = Get(sw);
    return s.has_value() ? s->active_region() : "<unknown>";
  }
  std::map<std::string, bool> Alive() {
    grpc::ClientContext context;
    switchboard::v1::ListRegionsResponse response;
    regions_->ListRegions(&context, {}, &response);
    std::map<std::string, bool> alive;
    for (const auto& r : response.regions()) alive[r.name()] = r.alive();
    return alive;
  }

  // Publishes a command and returns its id and the publisher's answer.
  std::pair<std::string, switchboard::v1::PublishResponse> Command(
      const std::string& name, std::vector<std::string> targets,
      bool broadcast = false) {
    Event e;
    e.set_source("kytos/flow_manager");
    e.set_type("kytos/flow_manager.command");
    e.mutable_command()->set_name(name);
    e.mutable_command()->set_broadcast(broadcast);
    for (auto& t : targets) e.mutable_command()->add_target_switches(t);
    auto answers = Publish(cluster_->broadcaster_address(), {e});
    EXPECT_TRUE(answers.ok() && answers->size() == 1);
    if (!answers.ok() || answers->empty()) return {};
    return {(*answers)[0].event_ids(0), (*answers)[0]};
  }

  // "region:targets" of every receipt of command `id` so far.
  std::multiset<std::string> Receipts(const std::string& id) {
    std::multiset<std::string> out;
    for (const EventDelivery& d : receipts_->WaitFor(0, absl::ZeroDuration())) {
      const auto& a = d.event().attributes();
      if (a.at("command_id") != id) continue;
      out.insert(absl::StrCat(a.at("region"), ":", a.at("targets")));
    }
    return out;
  }
  // Waits until command `id` has `n` receipts, then returns them.
  std::multiset<std::string> WaitReceipts(const std::string& id, size_t n) {
    Eventually([&] { return Receipts(id).size() >= n; });
    return Receipts(id);
  }

  // "change switch@region" of the virtual switch events so far.
  std::vector<std::string> SwitchEvents(const std::string& sw) {
    std::vector<std::string> out;
    for (const EventDelivery& d : switches_->WaitFor(0, absl::ZeroDuration())) {
      const SwitchStatus& s = d.event().switch_status();
      if (s.switch_id() != sw) continue;
      out.push_back(
          absl::StrCat(SwitchStatus::Change_Name(s.change()), "@", s.region()));
    }
    return out;
  }
  int Count(const std::vector<std::string>& events, const std::string& what) {
    return std::count(events.begin(), events.end(), what);
  }

  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<switchboard::v1::Regions::Stub> regions_;
  std::unique_ptr<Subscriber> switches_;
  std::unique_ptr<Subscriber> receipts_;
  std::unique_ptr<Subscriber> dumps_;
};

TEST_F(RegionsTest, FailoverRoutingAndReturnOfARegion) {
  // Started one after the other so that the active regions are known.
  auto a = StartSpeaker("a", "s1,s2,s4=RO");
  ASSERT_TRUE(Eventually([&] { return Active("s2") == "a"; }))
      << cluster_->Log("broadcaster");
  auto b = StartSpeaker("b", "s2,s3,s4=RO");
  ASSERT_TRUE(Eventually([&] { return Active("s3") == "b"; }));
  auto c = StartSpeaker("c", "s3,s5,s1=RO");
  ASSERT_TRUE(Eventually([&] {
    auto s1 = Get("s1");
    return Active("s5") == "c" && s1.has_value() && s1->connections_size() == 2;
  }));

  // Northbound: presence, modes, active region.
  auto s1 = Get("s1");
  EXPECT_EQ(s1->presence(), SwitchConnections::CONNECTED);
  EXPECT_EQ(s1->active_region(), "a");
  ASSERT_EQ(s1->connections_size(), 2);
  EXPECT_EQ(s1->connections(0).region(), "a");
  EXPECT_EQ(s1->connections(0).mode(), switchboard::v1::RW);
  EXPECT_EQ(s1->connections(0).ip(), "10.0.0.1");
  EXPECT_EQ(s1->connections(1).region(), "c");
  EXPECT_EQ(s1->connections(1).mode(), switchboard::v1::RO);
  EXPECT_EQ(Get("s4")->presence(), SwitchConnections::READ_ONLY);
  EXPECT_EQ(Active("s2"), "a");
  EXPECT_EQ(Active("s3"), "b");
  {
    grpc::ClientContext context;
    switchboard::v1::ListSwitchConnectionsRequest request;
    request.set_region("b");
    switchboard::v1::ListSwitchConnectionsResponse response;
    ASSERT_TRUE(
        regions_->ListSwitchConnections(&context, request, &response).ok());
    std::vector<std::string> ids;
    for (const auto& s : response.switches()) ids.push_back(s.switch_id());
    EXPECT_THAT(ids, ElementsAre("s2", "s3", "s4"));
  }
  {
    grpc::ClientContext context;
    switchboard::v1::GetSwitchConnectionsRequest request;
    request.set_switch_id("s9");
    SwitchConnections response;
    EXPECT_EQ(regions_->GetSwitchConnections(&context, request, &response)
                  .error_code(),
              grpc::StatusCode::NOT_FOUND);
  }

  // Apps saw one connection per switch that has a read-write region.
  ASSERT_TRUE(Eventually([&] { return !SwitchEvents("s5").empty(); }));
  for (const char* sw : {"s1", "s2", "s3", "s5"}) {
    auto events = SwitchEvents(sw);
    EXPECT_EQ(Count(events, absl::StrCat("CONNECTED@", Active(sw))), 1)
        << sw << ": " << absl::StrJoin(events, " ");
    EXPECT_EQ(Count(events, "DISCONNECTED@a"), 0);
  }
  EXPECT_TRUE(SwitchEvents("s4").empty());

  // Routing before the failure.
  auto [one, one_answer] = Command("install_flow", {"s1"});
  EXPECT_EQ(one_answer.rejections_size(), 0);
  EXPECT_THAT(WaitReceipts(one, 1), ElementsAre("a:s1"));
  auto [multi, multi_answer] = Command("install_flow", {"s2", "s3", "s5"});
  EXPECT_EQ(multi_answer.rejections_size(), 0);
  EXPECT_THAT(WaitReceipts(multi, 3),
              UnorderedElementsAre("a:s2", "b:s3", "c:s5"));
  auto [all, all_answer] = Command("barrier", {}, /*broadcast=*/true);
  EXPECT_THAT(WaitReceipts(all, 3), UnorderedElementsAre("a:", "b:", "c:"));
  auto [unknown, unknown_answer] = Command("install_flow", {"s9"});
  ASSERT_EQ(unknown_answer.rejections_size(), 1);
  EXPECT_EQ(unknown_answer.rejections(0).code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(unknown_answer.rejections(0).reason(),
              HasSubstr("no region serves switch 's9'"));
  EXPECT_THAT(unknown_answer.rejections(0).reason(),
              HasSubstr("kept in queue 'unroutable'"));
  EXPECT_FALSE(unknown.empty());  // its id: it was kept
  auto [read_only, read_only_answer] = Command("install_flow", {"s4"});
  ASSERT_EQ(read_only_answer.rejections_size(), 1);
  EXPECT_EQ(read_only_answer.rejections(0).code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(cluster_->AwaitDepth("unroutable", 2));

  // Region a's speaker dies.
  a->Signal(SIGKILL);
  a->Wait(absl::Seconds(10));
  ASSERT_TRUE(Eventually([&] { return !Alive()["a"]; }))
      << cluster_->Log("broadcaster");
  EXPECT_TRUE(Alive()["b"]);
  EXPECT_TRUE(Alive()["c"]);
  EXPECT_EQ(Active("s2"), "b");  // failover
  s1 = Get("s1");
  // Only c's read-only connection is left: disconnected for apps, and
  // commands still go to a for the grace period.
  EXPECT_EQ(s1->presence(), SwitchConnections::READ_ONLY);
  EXPECT_EQ(s1->active_region(), "");
  EXPECT_EQ(s1->grace_region(), "a");
  ASSERT_EQ(s1->connections_size(), 1);
  EXPECT_EQ(s1->connections(0).region(), "c");
  ASSERT_TRUE(Eventually([&] {
    return Count(SwitchEvents("s1"), "DISCONNECTED@a") == 1 &&
           Count(SwitchEvents("s2"), "UPDATED@b") >= 1;
  }));
  // One disconnect, for the switch only a could command; none for s2.
  EXPECT_EQ(Count(SwitchEvents("s2"), "DISCONNECTED@a"), 0);
  EXPECT_EQ(Count(SwitchEvents("s3"), "DISCONNECTED@b"), 0);
  auto s2_events = SwitchEvents("s2");
  EXPECT_EQ(s2_events.back(), "UPDATED@b") << absl::StrJoin(s2_events, " ");

  // Routing after: s2 goes to b; s1 still to a (grace period), where it
  // waits in a's queue; a broadcast reaches the live regions only.
  auto [after, after_answer] = Command("install_flow", {"s2"});
  EXPECT_EQ(after_answer.rejections_size(), 0);
  EXPECT_THAT(WaitReceipts(after, 1), ElementsAre("b:s2"));
  auto [grace, grace_answer] = Command("install_flow", {"s1"});
  EXPECT_EQ(grace_answer.rejections_size(), 0);
  auto [all2, all2_answer] = Command("barrier", {}, /*broadcast=*/true);
  EXPECT_THAT(WaitReceipts(all2, 2), UnorderedElementsAre("b:", "c:"));
  EXPECT_GE(cluster_->QueueDepth("region.a"), 1u);

  // a returns: it is asked for a dump at once, gets the command kept for
  // it, and takes s1 back (not s2: b keeps it).
  a = StartSpeaker("a", "s1,s2,s4=RO");
  ASSERT_TRUE(Eventually([&] { return Alive()["a"] && Active("s1") == "a"; }));
  EXPECT_THAT(WaitReceipts(grace, 1), ElementsAre("a:s1"));
  ASSERT_TRUE(Eventually([&] {
    for (const EventDelivery& d : receipts_->WaitFor(0, absl::ZeroDuration())) {
      const auto& attr = d.event().attributes();
      if (attr.at("region") == "a" &&
          attr.at("command") == "dump_all_switches" && attr.count("reason") &&
          attr.at("reason") == "return" && d.event().time().seconds() > 0) {
        return true;
      }
    }
    return false;
  }));
  EXPECT_EQ(Active("s2"), "b");
  EXPECT_EQ(Get("s2")->connections_size(), 2);
  ASSERT_TRUE(Eventually(
      [&] { return Count(SwitchEvents("s1"), "CONNECTED@a") == 2; }));

  // Dumps reach apps from the active region only, with availability data:
  // each region dumped on its first message (and a again on its return);
  // b's dump of s2, c's of s3 and s1, a's of s4 and its second of s2 came
  // from regions that were not active for them.
  auto dumps = [&] {
    std::multiset<std::string> out;
    for (const EventDelivery& d : dumps_->WaitFor(0, absl::ZeroDuration())) {
      const SwitchStatus& s = d.event().switch_status();
      EXPECT_GE(s.connections_size(), 1);
      out.insert(absl::StrCat(s.switch_id(), "@", s.region()));
    }
    return out;
  };
  const std::multiset<std::string> expected_dumps = {"s1@a", "s1@a", "s2@a",
                                                     "s3@b", "s5@c"};
  Eventually([&] { return dumps().size() >= expected_dumps.size(); });
  EXPECT_EQ(dumps(), expected_dumps);
  auto stats = GetBroadcasterStats(cluster_->broadcaster_address());
  ASSERT_TRUE(stats.ok());
  EXPECT_GT(stats->region_events_dropped(), 0u);  // a's dump of s2 and s4
  EXPECT_GT(stats->switch_events_absorbed(), 0u);
  EXPECT_EQ(stats->commands_unroutable(), 2u);

  // The broadcaster's metrics: every region is up and was sent commands;
  // a command for several regions is one routed command and one copy per
  // region.
  absl::StatusOr<std::string> metrics =
      HttpGet(cluster_->MetricsPort("broadcaster"), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  uint64_t copies = 0;
  for (const char* region : {"a", "b", "c"}) {
    SCOPED_TRACE(region);
    const std::string label = absl::StrCat("{region=\"", region, "\"} ");
    EXPECT_THAT(*metrics,
                HasSubstr("switchboard_broadcaster_region_up" + label + "1"));
    const std::string routed =
        "switchboard_broadcaster_region_commands_routed_total" + label;
    const size_t at = metrics->find(routed);
    ASSERT_NE(at, std::string::npos) << *metrics;
    uint64_t n = 0;
    ASSERT_TRUE(absl::SimpleAtoi(
        metrics->substr(at + routed.size(),
                        metrics->find('\n', at) - at - routed.size()),
        &n));
    EXPECT_GT(n, 0u);
    copies += n;
  }
  EXPECT_GE(copies, stats->commands_routed());
  EXPECT_THAT(*metrics, HasSubstr(absl::StrCat(
                            "switchboard_broadcaster_commands_routed_total ",
                            stats->commands_routed())));
}

}  // namespace
}  // namespace switchboard::testing
