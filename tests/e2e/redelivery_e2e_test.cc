// What an app holds survives its subscription's AMQP connection being cut:
// the broker's redelivered copies must not be acked as duplicates of what
// the app holds, or the only copy is gone.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster.h"
#include "tests/testing/rabbitmq_environment.h"

namespace switchboard::testing {
namespace {

// Reproduced: an app held 50 deliveries unacked (credit 100); the broker
// closed the subscription's connection; the bridge reconnected and the
// broker redelivered the 50; the consumer acked them as duplicates of ids
// the app held (the broker showed 0 ready, 0 unacked). The app was then
// killed and a new subscriber received 0 of 50.
TEST(RedeliveryTest, AReconnectedSubscriptionNeverAcksTheOnlyCopy) {
  const std::string tag = "redeliver";
  Cluster::Options options;
  options.bridge_yaml = SharedRabbitMqBridgeYaml(tag);
  options.broadcaster_yaml += absl::StrCat(
      "routing:\n  verbose_queue: ''\n  app_queue_prefix: ", tag, ".app.\n");
  auto cluster = Cluster::Start(options);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  const std::string queue = tag + ".app.r";
  auto first =
      Publish((*cluster)->broadcaster_address(), MakeEvents("r", "t", 50));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE((*cluster)->AwaitDepth(queue, 50));

  auto app = Subscriber::Open((*cluster)->consumer_address(), {queue}, 100,
                              /*auto_ack=*/false);
  ASSERT_TRUE(app.ok()) << app.status();
  ASSERT_EQ((*app)->WaitFor(50).size(), 50u);

  // The broker closes every client connection; the bridge's subscription
  // reconnects and the broker delivers the 50 again.
  auto closed = SharedRabbitMq().Ctl(
      {"close_all_connections", "test: cut the subscription"});
  ASSERT_TRUE(closed.ok()) << closed.status();
  ASSERT_TRUE(Eventually([&] {
    return absl::StrContains((*cluster)->Log("bridge"),
                             "subscription reconnected") &&
           (*cluster)->QueueDepth(queue) == 0;
  })) << (*cluster)->Log("bridge");

  // The app dies without acking: what it held goes back to the queue.
  (*app)->Cancel();
  (*app)->Wait();
  auto next = Subscriber::Open((*cluster)->consumer_address(), {queue}, 100,
                               /*auto_ack=*/true);
  ASSERT_TRUE(next.ok()) << next.status();
  std::vector<switchboard::v1::EventDelivery> got = (*next)->WaitFor(50);
  ASSERT_EQ(got.size(), 50u) << "the redelivered copies were acked away";
  ExpectExactlyOnceInSourceOrder(got, {{"r", 50}});
}

}  // namespace
}  // namespace switchboard::testing
