// End to end through the three real service binaries with the bridge on the
// rabbitmq driver and a real, private rabbitmq-server.
#include <signal.h>

#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster.h"
#include "tests/testing/rabbitmq_environment.h"

namespace switchboard::testing {
namespace {

using switchboard::v1::EventDelivery;

// Every test gets its own exchange, so queues of one test never see events
// of another on the shared broker.
std::unique_ptr<Cluster> StartOnRabbitMq(const std::string& exchange) {
  Cluster::Options options;
  options.bridge_yaml = SharedRabbitMqBridgeYaml(exchange);
  options.broadcaster_yaml +=
      absl::StrCat("routing:\n  verbose_queue: ", exchange, ".verbose\n",
                   "  app_queue_prefix: ", exchange, ".app.\n");
  auto cluster = Cluster::Start(options);
  EXPECT_TRUE(cluster.ok()) << cluster.status();
  return cluster.ok() ? *std::move(cluster) : nullptr;
}

TEST(RabbitMqEndToEndTest, EveryEventOncePerQueueForTwoApps) {
  auto cluster = StartOnRabbitMq("e2e1");
  ASSERT_NE(cluster, nullptr);
  ASSERT_TRUE(cluster->AwaitDepth("e2e1.verbose", 0));
  auto verbose = Subscriber::Open(cluster->consumer_address(), {"e2e1.verbose"},
                                  500, /*auto_ack=*/true);
  ASSERT_TRUE(verbose.ok());
  const std::map<std::string, int> sent = {{"kytos/topology", 2000},
                                           {"kytos/of_core", 1000}};
  std::vector<std::thread> producers;
  for (const auto& [source, n] : sent) {
    producers.emplace_back([&, source = source, n = n] {
      auto answers = Publish(cluster->broadcaster_address(),
                             MakeEvents(source, "t", n), 100);
      ASSERT_TRUE(answers.ok()) << answers.status();
    });
  }
  for (auto& p : producers) p.join();
  std::vector<EventDelivery> all = (*verbose)->WaitFor(3000);
  ASSERT_EQ(all.size(), 3000u) << cluster->Log("bridge");
  ExpectExactlyOnceInSourceOrder(all, sent);

  auto app = Subscriber::Open(cluster->consumer_address(),
                              {"e2e1.app.kytos.topology"}, 100, true);
  ASSERT_TRUE(app.ok());
  std::vector<EventDelivery> mine = (*app)->WaitFor(2000);
  ASSERT_EQ(mine.size(), 2000u);
  ExpectExactlyOnceInSourceOrder(mine, {{"kytos/topology", 2000}});
  EXPECT_TRUE(Eventually([&] {
    return cluster->QueueDepth("e2e1.verbose") == 0 &&
           cluster->QueueDepth("e2e1.app.kytos.topology") == 0 &&
           cluster->QueueDepth("e2e1.app.kytos.of_core") == 1000;
  }));
  EXPECT_EQ((*verbose)->count(), 3000u);
}

TEST(RabbitMqEndToEndTest, BrokerRestartMidStreamLosesAndDuplicatesNothing) {
  auto cluster = StartOnRabbitMq("e2e2");
  ASSERT_NE(cluster, nullptr);
  ASSERT_TRUE(cluster->AwaitDepth("e2e2.verbose", 0));
  auto app = Subscriber::Open(cluster->consumer_address(), {"e2e2.verbose"},
                              200, /*auto_ack=*/true);
  ASSERT_TRUE(app.ok());
  // The subscription is live at the broker before anything is killed.
  ASSERT_TRUE(Eventually([&] {
    auto queues = ListQueues(cluster->consumer_address());
    if (!queues.ok()) return false;
    for (const auto& q : queues->queues()) {
      if (q.name() == "e2e2.verbose") return q.subscribers() == 1;
    }
    return false;
  }));

  // Three rounds of publishing: before, during and after the outage.
  auto publish_round = [&](int round, int n) {
    std::vector<switchboard::v1::Event> events =
        MakeEvents("kytos/topology", "t", n);
    for (int i = 0; i < n; ++i) {
      (*events[i].mutable_attributes())["round"] = std::to_string(round);
    }
    auto answers = Publish(cluster->broadcaster_address(), events, 50);
    ASSERT_TRUE(answers.ok()) << answers.status();
    for (const auto& a : *answers) ASSERT_EQ(a.accepted(), 50u);
  };
  publish_round(1, 1000);
  // Kill the broker while the first round is still flowing.
  SharedRabbitMq().Kill();
  publish_round(2, 1000);  // accepted by the broadcaster, buffered
  ASSERT_TRUE(SharedRabbitMq().Restart().ok());
  publish_round(3, 1000);

  std::vector<EventDelivery> got = (*app)->WaitFor(3000, absl::Seconds(120));
  ASSERT_EQ(got.size(), 3000u)
      << "subscriber: " << (*app)->Wait(absl::ZeroDuration()).error_message()
      << "\nbroadcaster:\n"
      << cluster->Log("broadcaster") << "\nbridge:\n"
      << cluster->Log("bridge") << "\nconsumer:\n"
      << cluster->Log("consumer");
  ExpectExactlyOnceInSourceOrder(got, {{"kytos/topology", 3000}});
  // And nothing more trickles in afterwards.
  EXPECT_TRUE(cluster->AwaitDepth("e2e2.verbose", 0));
  // The broker may deliver a persistent message before it confirms it to
  // the publisher, so the broadcaster's count catches up a little later.
  EXPECT_TRUE(Eventually([&] {
    auto stats = GetBroadcasterStats(cluster->broadcaster_address());
    return stats.ok() && stats->accepted() == 3000 &&
           stats->forwarded() == 3000 && stats->buffered() == 0;
  }));
  EXPECT_EQ((*app)->count(), 3000u);
}

TEST(RabbitMqEndToEndTest, SighupReloadsTheTransportAndLosesNothing) {
  auto cluster = StartOnRabbitMq("e2e3");
  ASSERT_NE(cluster, nullptr);
  ASSERT_TRUE(cluster->AwaitDepth("e2e3.verbose", 0));
  const std::string config = cluster->dir() + "/bridge.yaml";
  const std::string original = ReadFile(config);

  // Each round publishes 1000 events; the app drains them, subscribing
  // again whenever the bridge ends its stream.
  std::map<std::string, int> seen;
  int total = 0;
  auto publish_round = [&](int n) {
    auto answers = Publish(cluster->broadcaster_address(),
                           MakeEvents("kytos/topology", "t", n), 100);
    ASSERT_TRUE(answers.ok()) << answers.status();
    total += n;
  };
  // The app: one subscription, opened again only when the bridge ends it.
  std::unique_ptr<Subscriber> app;
  size_t counted = 0;  // deliveries of `app` already in `seen`
  auto drain = [&] {
    absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (static_cast<int>(seen.size()) < total && absl::Now() < deadline) {
      if (app == nullptr || app->Wait(absl::ZeroDuration()).error_code() !=
                                grpc::StatusCode::DEADLINE_EXCEEDED) {
        auto opened = Subscriber::Open(cluster->consumer_address(),
                                       {"e2e3.verbose"}, 200, true);
        if (!opened.ok()) {
          // As any app told "subscribe again": try again shortly.
          ASSERT_EQ(opened.status().code(), absl::StatusCode::kUnavailable)
              << opened.status();
          std::cerr << "resubscribing: " << opened.status() << "\n";
          absl::SleepFor(absl::Milliseconds(50));
          continue;
        }
        app = *std::move(opened);
        counted = 0;
      }
      std::vector<EventDelivery> got =
          app->WaitFor(counted + (total - seen.size()), absl::Seconds(5));
      for (size_t i = counted; i < got.size(); ++i) {
        ++seen[got[i].event().id()];
      }
      counted = got.size();
    }
  };

  publish_round(1000);
  drain();
  // A valid change: the bridge reconnects with the new settings.
  WriteFile(config, original + "    confirm_window: 100\n");
  cluster->bridge().Signal(SIGHUP);
  ASSERT_TRUE(Eventually([&] {
    return cluster->Log("bridge").find("transport reloaded") !=
           std::string::npos;
  })) << cluster->Log("bridge");
  publish_round(1000);
  drain();
  // A bad change is refused and the bridge goes on as it was.
  WriteFile(config, original + "    confirm_windoe: 100\n");
  cluster->bridge().Signal(SIGHUP);
  ASSERT_TRUE(Eventually([&] {
    return cluster->Log("bridge").find("reload refused") != std::string::npos;
  }));
  EXPECT_THAT(cluster->Log("bridge"),
              ::testing::HasSubstr("confirm_windoe: unknown setting"));
  publish_round(1000);
  drain();

  ASSERT_EQ(seen.size(), 3000u) << cluster->Log("bridge");
  // An event is seen twice only if the app had not acked it when its
  // stream ended, so at most one credit window per reload.
  int duplicates = 0;
  for (const auto& [id, n] : seen) duplicates += n - 1;
  EXPECT_LE(duplicates, 200);
  EXPECT_TRUE(cluster->AwaitDepth("e2e3.verbose", 0));
  EXPECT_TRUE(cluster->bridge().running());
}

}  // namespace
}  // namespace switchboard::testing
