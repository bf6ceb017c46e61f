// One end-to-end scenario, unchanged, over every transport driver: only the
// bridge's `transport` section differs. Two producers publish concurrently;
// a verbose subscriber and an app subscriber each get every event of their
// queue exactly once, in per-source order; an app that never subscribed
// finds its events waiting; an app that goes away with unacked events gets
// them again on its next subscription.
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/v1/bridge.grpc.pb.h"
#include "tests/testing/cluster.h"
#include "tests/testing/rabbitmq_environment.h"

namespace switchboard::testing {
namespace {

using switchboard::v1::EventDelivery;

// The bridge config of each driver: the one line an operator changes (plus
// the driver's own address settings).
std::string BridgeYaml(const std::string& driver, const std::string& tag) {
  if (driver == "rabbitmq") return SharedRabbitMqBridgeYaml(tag);
  if (driver == "zeromq") {
    return "listen: 127.0.0.1:0\n"
           "transport:\n"
           "  driver: zeromq\n"
           "  zeromq:\n"
           "    bind: tcp://127.0.0.1:0\n";
  }
  return "listen: 127.0.0.1:0\ntransport:\n  driver: memory\n";
}

class TransportSwapTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TransportSwapTest, TwoProducersThreeAppsExactlyOnceInOrder) {
  const std::string tag = absl::StrCat("swap_", GetParam());
  Cluster::Options options;
  options.bridge_yaml = BridgeYaml(GetParam(), tag);
  options.broadcaster_yaml +=
      absl::StrCat("routing:\n  verbose_queue: ", tag, ".verbose\n",
                   "  app_queue_prefix: ", tag, ".app.\n");
  auto started = Cluster::Start(options);
  ASSERT_TRUE(started.ok()) << started.status();
  Cluster& cluster = **started;

  // The driver in use is the configured one.
  auto bridge = switchboard::v1::Bridge::NewStub(grpc::CreateChannel(
      cluster.bridge_address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  switchboard::v1::TransportInfo info;
  ASSERT_TRUE(bridge->GetTransportInfo(&context, {}, &info).ok());
  EXPECT_EQ(info.driver(), GetParam());
  EXPECT_EQ(info.confirmed_delivery(), GetParam() != "zeromq");

  const std::string verbose_queue = tag + ".verbose";
  const std::string topology_queue = tag + ".app.kytos.topology";
  const std::string of_core_queue = tag + ".app.kytos.of_core";
  ASSERT_TRUE(cluster.AwaitDepth(verbose_queue, 0));
  auto verbose = Subscriber::Open(cluster.consumer_address(), {verbose_queue},
                                  500, /*auto_ack=*/true);
  ASSERT_TRUE(verbose.ok()) << verbose.status();

  const std::map<std::string, int> sent = {{"kytos/topology", 2000},
                                           {"kytos/of_core", 1000}};
  std::vector<std::thread> producers;
  for (const auto& [source, n] : sent) {
    producers.emplace_back([&, source = source, n = n] {
      auto answers = Publish(cluster.broadcaster_address(),
                             MakeEvents(source, "t", n, 256), 100);
      ASSERT_TRUE(answers.ok()) << answers.status();
      for (const auto& a : *answers) EXPECT_EQ(a.rejections_size(), 0);
    });
  }
  for (auto& p : producers) p.join();

  std::vector<EventDelivery> all = (*verbose)->WaitFor(3000);
  ASSERT_EQ(all.size(), 3000u) << cluster.Log("bridge");
  ExpectExactlyOnceInSourceOrder(all, sent);

  // The topology app subscribes after the fact, takes 500 without acking
  // and goes away: those come back first on its next subscription.
  {
    auto first = Subscriber::Open(cluster.consumer_address(), {topology_queue},
                                  500, /*auto_ack=*/false);
    ASSERT_TRUE(first.ok());
    ASSERT_EQ((*first)->WaitFor(500).size(), 500u);
    (*first)->Cancel();
  }
  // The bridge ends the old subscription asynchronously; its 500 are back
  // in the queue once the depth is whole again.
  ASSERT_TRUE(cluster.AwaitDepth(topology_queue, 2000));
  auto app = Subscriber::Open(cluster.consumer_address(), {topology_queue}, 100,
                              /*auto_ack=*/true);
  ASSERT_TRUE(app.ok());
  std::vector<EventDelivery> mine = (*app)->WaitFor(2000);
  ASSERT_EQ(mine.size(), 2000u) << cluster.Log("bridge");
  ExpectExactlyOnceInSourceOrder(mine, {{"kytos/topology", 2000}});
  EXPECT_TRUE(mine.front().redelivered());

  // Nobody read of_core's queue: its events wait there.
  EXPECT_TRUE(Eventually([&] {
    return cluster.QueueDepth(verbose_queue) == 0 &&
           cluster.QueueDepth(topology_queue) == 0 &&
           cluster.QueueDepth(of_core_queue) == 1000;
  }));
  EXPECT_EQ((*verbose)->count(), 3000u);
}

INSTANTIATE_TEST_SUITE_P(Drivers, TransportSwapTest,
                         ::testing::Values("memory", "rabbitmq", "zeromq"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace switchboard::testing
