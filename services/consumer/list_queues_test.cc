// ListQueues through the consumer in-process, on an in-process bridge
// (memory transport).
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/consumer/consumer_fixture.h"
#include "switchboard/v1/consumer.grpc.pb.h"

namespace switchboard::consumer {
namespace {

using switchboard::v1::ListQueuesRequest;
using switchboard::v1::ListQueuesResponse;
using ::testing::HasSubstr;

class ListQueuesTest : public ConsumerRpcTest {
 protected:
  grpc::Status ListQueues(const Consumer& consumer,
                          const std::vector<std::string>& queues,
                          ListQueuesResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    ListQueuesRequest request;
    for (const auto& q : queues) request.add_queues(q);
    return consumer.stub->ListQueues(&context, request, response);
  }
};

TEST_F(ListQueuesTest, ListQueuesShowsDepthUnackedAndSubscribers) {
  Publish("app.a", 4);
  Publish("link.s1", {NumberedEvent(0)}, /*last_value=*/true);
  SubscribeStream stream(consumer_.stub.get());
  ASSERT_TRUE(stream.Open({"app.a"}, 1));
  ASSERT_EQ(stream.AwaitDeliveries(1).size(), 1u);
  ASSERT_TRUE(EventuallyBridgeStats("app.a", 3, 1));
  // The consumer's link view holds the link's status unacked.
  ASSERT_TRUE(EventuallyBridgeStats("link.s1", 0, 1));

  ListQueuesResponse response;
  grpc::Status status = ListQueues(consumer_, {}, &response);

  ASSERT_TRUE(status.ok()) << status.error_message();
  // app.a's dead-letter queue (the bridge's max_deliveries) is listed too.
  ASSERT_EQ(response.queues_size(), 3) << response.ShortDebugString();
  EXPECT_EQ(response.queues(1).name(), "dead.app.a");
  const auto& a = response.queues(0);
  EXPECT_EQ(a.name(), "app.a");
  EXPECT_EQ(a.depth(), 3u);
  EXPECT_EQ(a.unacked(), 1u);
  EXPECT_EQ(a.subscribers(), 1u);
  EXPECT_FALSE(a.last_value());
  const auto& link = response.queues(2);
  EXPECT_EQ(link.name(), "link.s1");
  EXPECT_EQ(link.depth(), 0u);
  EXPECT_EQ(link.unacked(), 1u);
  EXPECT_EQ(link.subscribers(), 1u);
  EXPECT_TRUE(link.last_value());

  // Only the queues asked for.
  response.Clear();
  status = ListQueues(consumer_, {"link.s1"}, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.queues_size(), 1);
  EXPECT_EQ(response.queues(0).name(), "link.s1");

  // An unknown queue.
  response.Clear();
  status = ListQueues(consumer_, {"app.nobody"}, &response);
  EXPECT_EQ(status.error_code(), grpc::NOT_FOUND) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("app.nobody"));
}

TEST_F(ListQueuesTest, ListQueuesWithTheBridgeUnreachableIsUnavailable) {
  // Nothing listens on port 1.
  Consumer orphan = StartConsumer("bridge:\n  address: 127.0.0.1:1\n");
  ASSERT_NE(orphan.stub, nullptr);
  ListQueuesResponse response;
  grpc::Status status = ListQueues(orphan, {}, &response);
  EXPECT_EQ(status.error_code(), grpc::UNAVAILABLE) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("bridge is unreachable"));
  EXPECT_EQ(response.queues_size(), 0);
}

}  // namespace
}  // namespace switchboard::consumer
