// End to end through the three real service binaries on loopback, on the
// embedded (memory) transport.
#include <signal.h>

#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster.h"

namespace switchboard::testing {
namespace {

using switchboard::v1::EventDelivery;
using ::testing::HasSubstr;

std::unique_ptr<Cluster> MustStart(Cluster::Options options = {}) {
  auto cluster = Cluster::Start(std::move(options));
  EXPECT_TRUE(cluster.ok()) << cluster.status();
  return cluster.ok() ? *std::move(cluster) : nullptr;
}

bool QueueExists(const Cluster& c, const std::string& queue) {
  return c.QueueDepth(queue) != Cluster::kNoQueue;
}

TEST(EndToEndTest, EveryEventArrivesExactlyOncePerQueueInSourceOrder) {
  auto cluster = MustStart();
  ASSERT_NE(cluster, nullptr);
  const std::map<std::string, int> sent = {{"kytos/topology", 3000},
                                           {"kytos/of_core", 2000},
                                           {"speaker/region-a", 1000}};
  const int total = 6000;
  // App 1 watches everything from the start.
  ASSERT_TRUE(Eventually([&] { return QueueExists(*cluster, "verbose"); }));
  auto verbose = Subscriber::Open(cluster->consumer_address(), {"verbose"}, 500,
                                  /*auto_ack=*/true);
  ASSERT_TRUE(verbose.ok()) << verbose.status();

  std::vector<std::thread> producers;
  for (const auto& [source, n] : sent) {
    producers.emplace_back([&, source = source, n = n] {
      auto answers = Publish(cluster->broadcaster_address(),
                             MakeEvents(source, "test.event", n), 100);
      ASSERT_TRUE(answers.ok()) << answers.status();
      for (const auto& a : *answers) {
        EXPECT_EQ(a.accepted(), 100u);
        EXPECT_EQ(a.rejections_size(), 0);
      }
    });
  }
  for (auto& p : producers) p.join();

  std::vector<EventDelivery> all = (*verbose)->WaitFor(total);
  ASSERT_EQ(all.size(), static_cast<size_t>(total)) << cluster->Log("consumer");
  ExpectExactlyOnceInSourceOrder(all, sent);

  // App 2 subscribes afterwards to two per-app queues.
  auto apps = Subscriber::Open(cluster->consumer_address(),
                               {"app.kytos.topology", "app.speaker.region-a"},
                               100, true);
  ASSERT_TRUE(apps.ok());
  std::vector<EventDelivery> mine = (*apps)->WaitFor(4000);
  ASSERT_EQ(mine.size(), 4000u);
  ExpectExactlyOnceInSourceOrder(
      mine, {{"kytos/topology", 3000}, {"speaker/region-a", 1000}});
  for (const EventDelivery& d : mine) {
    EXPECT_EQ(d.queue(), d.event().source() == "kytos/topology"
                             ? "app.kytos.topology"
                             : "app.speaker.region-a");
  }
  // Nothing more arrives and everything was acked.
  EXPECT_TRUE(Eventually([&] {
    return cluster->QueueDepth("verbose") == 0 &&
           cluster->QueueDepth("app.kytos.of_core") == 2000;
  }));
  EXPECT_EQ((*verbose)->count(), static_cast<size_t>(total));
}

TEST(EndToEndTest, UnackedEventsComeBackToTheNextSubscriberInOrder) {
  auto cluster = MustStart();
  ASSERT_NE(cluster, nullptr);
  ASSERT_TRUE(Publish(cluster->broadcaster_address(),
                      MakeEvents("kytos/topology", "t", 100))
                  .ok());
  ASSERT_TRUE(cluster->AwaitDepth("verbose", 100));

  auto first = Subscriber::Open(cluster->consumer_address(), {"verbose"}, 10,
                                /*auto_ack=*/false);
  ASSERT_TRUE(first.ok());
  std::vector<EventDelivery> held = (*first)->WaitFor(10);
  ASSERT_EQ(held.size(), 10u);
  (*first)->Ack({held[0].tag(), held[1].tag()});
  // The credit window holds: the two acked are replaced, no more.
  held = (*first)->WaitFor(12);
  ASSERT_EQ(held.size(), 12u);
  ASSERT_TRUE(cluster->AwaitDepth("verbose", 88));
  EXPECT_EQ((*first)->count(), 12u);
  (*first)->Cancel();  // goes away with 10 unacked
  (*first)->Wait();
  // The requeue travels app -> consumer -> bridge asynchronously.
  ASSERT_TRUE(cluster->AwaitDepth("verbose", 98));

  auto second = Subscriber::Open(cluster->consumer_address(), {"verbose"}, 1000,
                                 /*auto_ack=*/true);
  ASSERT_TRUE(second.ok());
  std::vector<EventDelivery> got = (*second)->WaitFor(98);
  ASSERT_EQ(got.size(), 98u);
  for (int i = 0; i < 98; ++i) {
    EXPECT_EQ(got[i].event().sequence(), static_cast<uint64_t>(i + 3));
    EXPECT_EQ(got[i].redelivered(), i < 10) << i;
  }
}

TEST(EndToEndTest, KilledSubscriberProcessLosesNothing) {
  auto cluster = MustStart();
  ASSERT_NE(cluster, nullptr);
  ASSERT_TRUE(Publish(cluster->broadcaster_address(),
                      MakeEvents("kytos/topology", "t", 50))
                  .ok());
  ASSERT_TRUE(cluster->AwaitDepth("verbose", 50));

  // A real subscriber process holding 20 unacked deliveries, killed -9.
  std::string out = absl::StrCat(cluster->dir(), "/tail.out");
  Process::Options o;
  o.stdout_path = out;
  o.stderr_path = absl::StrCat(cluster->dir(), "/tail.err");
  auto tail = Process::Start(
      Runfile("tools/switchboardctl/switchboardctl"),
      {"tail", absl::StrCat("--consumer=", cluster->consumer_address()),
       "--queue=verbose", "--credit=20", "--no_ack"},
      o);
  ASSERT_TRUE(tail.ok());
  ASSERT_TRUE(Eventually([&] {
    std::string text = ReadFile(out);
    return std::count(text.begin(), text.end(), '\n') == 20;
  })) << ReadFile(out)
      << ReadFile(o.stderr_path);
  (*tail)->Signal(SIGKILL);
  (*tail)->Wait(absl::Seconds(10));
  ASSERT_TRUE(cluster->AwaitDepth("verbose", 50));

  auto next =
      Subscriber::Open(cluster->consumer_address(), {"verbose"}, 100, true);
  ASSERT_TRUE(next.ok());
  std::vector<EventDelivery> got = (*next)->WaitFor(50);
  ASSERT_EQ(got.size(), 50u);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(got[i].event().sequence(), static_cast<uint64_t>(i + 1));
    EXPECT_EQ(got[i].redelivered(), i < 20) << i;
  }
}

TEST(EndToEndTest, BadEventsAreRejectedWithReasonsAndTheRestIsDelivered) {
  Cluster::Options options;
  options.broadcaster_yaml += "max_event_bytes: 1024\n";
  auto cluster = MustStart(options);
  ASSERT_NE(cluster, nullptr);
  std::vector<switchboard::v1::Event> events =
      MakeEvents("kytos/topology", "t", 5);
  events[1].clear_type();
  events[3].set_binary_data(std::string(4096, 'y'));
  events[4].clear_source();
  auto answers = Publish(cluster->broadcaster_address(), events, 5);
  ASSERT_TRUE(answers.ok()) << answers.status();
  ASSERT_EQ(answers->size(), 1u);
  const auto& a = (*answers)[0];
  EXPECT_EQ(a.accepted(), 2u);
  ASSERT_EQ(a.rejections_size(), 3);
  EXPECT_EQ(a.rejections(0).index(), 1u);
  EXPECT_EQ(a.rejections(0).code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(a.rejections(0).reason(), HasSubstr("type is empty"));
  EXPECT_EQ(a.rejections(1).index(), 3u);
  EXPECT_THAT(a.rejections(1).reason(),
              HasSubstr("the limit is 1024 (max_event_bytes)"));
  EXPECT_EQ(a.rejections(2).index(), 4u);
  EXPECT_THAT(a.rejections(2).reason(), HasSubstr("source is empty"));
  ASSERT_EQ(a.event_ids_size(), 5);
  EXPECT_FALSE(a.event_ids(0).empty());
  EXPECT_TRUE(a.event_ids(1).empty());

  ASSERT_TRUE(cluster->AwaitDepth("verbose", 2));
  auto sub =
      Subscriber::Open(cluster->consumer_address(), {"verbose"}, 10, true);
  ASSERT_TRUE(sub.ok());
  std::vector<EventDelivery> got = (*sub)->WaitFor(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].event().id(), a.event_ids(0));
  EXPECT_EQ(got[1].event().id(), a.event_ids(2));
  EXPECT_EQ(got[0].event().attributes().at("i"), "0");
  EXPECT_TRUE(got[0].event().has_time());

  auto stats = GetBroadcasterStats(cluster->broadcaster_address());
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->accepted(), 2u);
  EXPECT_EQ(stats->rejected_invalid(), 3u);
}

TEST(EndToEndTest, SubscribingToAnUnknownQueueIsNotFound) {
  auto cluster = MustStart();
  ASSERT_NE(cluster, nullptr);
  auto sub =
      Subscriber::Open(cluster->consumer_address(), {"app.nobody"}, 10, true);
  ASSERT_TRUE(sub.ok());
  grpc::Status s = (*sub)->Wait();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("app.nobody"));

  auto bad =
      Subscriber::Open(cluster->consumer_address(), {"no spaces"}, 10, true);
  ASSERT_TRUE(bad.ok());
  s = (*bad)->Wait();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST(EndToEndTest, MalformedConfigFilesStopEachServiceWithTheFieldNamed) {
  struct Case {
    std::string binary;
    std::string yaml;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"services/broadcaster/broadcaster", "buffer:\n  overflow: sometimes\n",
       "buffer.overflow: unknown overflow policy 'sometimes'"},
      {"services/broadcaster/broadcaster", "bridge: [1, 2]\n",
       "bridge: expected a mapping"},
      {"services/mq-bridge/mq-bridge", "transport:\n  driver: carrier-pigeon\n",
       "transport.driver: unknown transport driver 'carrier-pigeon' (known: "
       "memory"},
      {"services/consumer/consumer", "default_credit: lots\n",
       "default_credit: expected an integer, got 'lots'"},
      {"services/consumer/consumer", "listen: [unclosed\n", "4.yaml: line"},
  };
  std::string dir = NewTempDir("configs");
  for (size_t i = 0; i < cases.size(); ++i) {
    std::string config = absl::StrCat(dir, "/", i, ".yaml");
    std::string log = absl::StrCat(dir, "/", i, ".log");
    WriteFile(config, cases[i].yaml);
    Process::Options o;
    o.stderr_path = log;
    auto p = Process::Start(Runfile(cases[i].binary), {"--config", config}, o);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ((*p)->Wait(absl::Seconds(30)), 2) << cases[i].yaml;
    EXPECT_THAT(ReadFile(log), HasSubstr(cases[i].expected));
  }
}

TEST(EndToEndTest, SigtermFlushesAcceptedEventsToTheBridge) {
  auto cluster = MustStart();
  ASSERT_NE(cluster, nullptr);
  auto answers = Publish(cluster->broadcaster_address(),
                         MakeEvents("kytos/topology", "t", 5000), 500);
  ASSERT_TRUE(answers.ok());
  cluster->broadcaster().Signal(SIGTERM);
  EXPECT_EQ(cluster->broadcaster().Wait(absl::Seconds(30)), 0)
      << cluster->Log("broadcaster");
  EXPECT_EQ(cluster->QueueDepth("verbose"), 5000u);
  EXPECT_EQ(cluster->QueueDepth("app.kytos.topology"), 5000u);
  EXPECT_THAT(cluster->Log("broadcaster"), HasSubstr("broadcaster stopped"));
}

TEST(EndToEndTest, ProducersKeepPublishingWhileTheBridgeIsDown) {
  auto cluster = MustStart();
  ASSERT_NE(cluster, nullptr);
  cluster->bridge().Signal(SIGKILL);
  cluster->bridge().Wait(absl::Seconds(10));
  auto answers = Publish(cluster->broadcaster_address(),
                         MakeEvents("kytos/topology", "t", 2000), 200);
  ASSERT_TRUE(answers.ok());
  for (const auto& a : *answers) EXPECT_EQ(a.accepted(), 200u);
  auto stats = GetBroadcasterStats(cluster->broadcaster_address());
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->buffered(), 2000u);
  EXPECT_FALSE(stats->bridge_connected());

  ASSERT_TRUE(cluster->StartBridge().ok());  // same port, empty memory
  EXPECT_TRUE(cluster->AwaitDepth("verbose", 2000));
  stats = GetBroadcasterStats(cluster->broadcaster_address());
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->buffered(), 0u);
  EXPECT_EQ(stats->forwarded(), 2000u);
  EXPECT_GE(stats->bridge_connects(), 2u);
}

TEST(EndToEndTest, FullBufferRejectsWithResourceExhaustedAndKeepsWhatItHas) {
  Cluster::Options options;
  options.broadcaster_yaml += "buffer:\n  max_events: 300\n";
  auto cluster = MustStart(options);
  ASSERT_NE(cluster, nullptr);
  cluster->bridge().Signal(SIGKILL);
  cluster->bridge().Wait(absl::Seconds(10));
  auto answers = Publish(cluster->broadcaster_address(),
                         MakeEvents("kytos/topology", "t", 500), 100);
  ASSERT_TRUE(answers.ok());
  uint32_t accepted = 0;
  for (const auto& a : *answers) {
    accepted += a.accepted();
    for (const auto& r : a.rejections()) {
      EXPECT_EQ(r.code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
      EXPECT_THAT(r.reason(), HasSubstr("buffer is full"));
    }
  }
  EXPECT_EQ(accepted, 300u);
  ASSERT_TRUE(cluster->StartBridge().ok());
  ASSERT_TRUE(Eventually([&] { return QueueExists(*cluster, "verbose"); }));
  auto sub =
      Subscriber::Open(cluster->consumer_address(), {"verbose"}, 1000, true);
  ASSERT_TRUE(sub.ok());
  std::vector<EventDelivery> got = (*sub)->WaitFor(300);
  ASSERT_EQ(got.size(), 300u);
  ExpectExactlyOnceInSourceOrder(got, {{"kytos/topology", 300}});
  auto stats = GetBroadcasterStats(cluster->broadcaster_address());
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->rejected_full(), 200u);
}

}  // namespace
}  // namespace switchboard::testing
