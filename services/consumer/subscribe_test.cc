// Subscribe through the consumer in-process, relaying to an in-process
// bridge (memory transport): deliveries, credit, acks, nacks, the ends of a
// stream, and copies of one event. Its errors: subscribe_errors_test.cc.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "services/consumer/consumer_fixture.h"
#include "switchboard/v1/consumer.grpc.pb.h"

namespace switchboard::consumer {
namespace {

using switchboard::v1::Event;
using switchboard::v1::EventDelivery;
using switchboard::v1::SubscribeRequest;
using ::testing::ElementsAre;

class SubscribeTest : public ConsumerRpcTest {};

TEST_F(SubscribeTest, RelaysDeliveriesWithTheParsedEventAndAcks) {
  std::vector<Event> events = {NumberedEvent(0), NumberedEvent(1),
                               NumberedEvent(2)};
  events[2].clear_link_status();
  events[2].set_binary_data(std::string("\x00\x01\xff", 3));
  Publish("app.kytos.topology", events);
  SubscribeStream stream(consumer_.stub.get());
  ASSERT_TRUE(stream.Open({"app.kytos.topology"}, 10));

  auto deliveries = stream.AwaitDeliveries(3);

  ASSERT_EQ(deliveries.size(), 3u);
  for (size_t i = 0; i < deliveries.size(); ++i) {
    const EventDelivery& d = deliveries[i];
    EXPECT_EQ(d.queue(), "app.kytos.topology");
    EXPECT_NE(d.tag(), 0u);
    EXPECT_FALSE(d.redelivered());
    EXPECT_EQ(d.delivery_count(), 1u);
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(d.event(),
                                                                   events[i]))
        << "got " << d.event().ShortDebugString() << "\nwanted "
        << events[i].ShortDebugString();
  }
  EXPECT_TRUE(EventuallyBridgeStats("app.kytos.topology", 0, 3));

  ASSERT_TRUE(stream.Ack(TagsOf(deliveries)));

  EXPECT_TRUE(EventuallyBridgeStats("app.kytos.topology", 0, 0));
  // Acked means gone: ending the subscription brings nothing back.
  stream.Cancel();
  stream.Finish();
  EXPECT_TRUE(EventuallyBridgeStats("app.kytos.topology", 0, 0));
}

// What an outside publisher put in a queue that is not a valid Event never
// reaches the app (whose stream would break on it): it is counted and
// rejected to the queue's dead-letter queue, and the valid events around
// it are delivered as sent.
TEST_F(SubscribeTest, MalformedEventsAreRejectedToTheDeadLetterQueue) {
  Event bad_utf8 = NumberedEvent(1);
  bad_utf8.set_source("kytos/\xc3");
  std::string bad_utf8_bytes;
  ASSERT_TRUE(bad_utf8.SerializePartialToString(&bad_utf8_bytes));
  PublishRaw("app.outside", {{"ev-0", NumberedEvent(0).SerializeAsString()},
                             {"junk", "this is not protobuf"},
                             {"ev-1", bad_utf8_bytes},
                             {"ev-3", NumberedEvent(3).SerializeAsString()}});
  SubscribeStream stream(consumer_.stub.get());
  ASSERT_TRUE(stream.Open({"app.outside"}, 10));

  auto deliveries = stream.AwaitDeliveries(2);

  ASSERT_EQ(deliveries.size(), 2u);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      deliveries[0].event(), NumberedEvent(0)));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      deliveries[1].event(), NumberedEvent(3)));
  ASSERT_TRUE(stream.Ack(TagsOf(deliveries)));
  EXPECT_TRUE(EventuallyBridgeStats("app.outside", 0, 0));
  EXPECT_TRUE(EventuallyBridgeStats("dead.app.outside", 2, 0));
  uint64_t malformed = 0, delivered = 0;
  for (const auto& q : consumer_.service->counters().Read()) {
    if (q.queue != "app.outside") continue;
    malformed = q.malformed;
    delivered = q.deliveries;
  }
  EXPECT_EQ(malformed, 2u);
  EXPECT_EQ(delivered, 2u);
  // Nothing more comes.
  stream.Cancel();
  stream.Finish();
  EXPECT_EQ(stream.delivery_count(), 2u);
}

TEST_F(SubscribeTest, CreditBoundsUnackedDeliveries) {
  Publish("verbose", 10);
  SubscribeStream stream(consumer_.stub.get());
  ASSERT_TRUE(stream.Open({"verbose"}, 3));

  // The bridge hands out 3 and holds 7 back...
  ASSERT_TRUE(EventuallyBridgeStats("verbose", 7, 3));
  auto deliveries = stream.AwaitDeliveries(3);
  // ...and the app gets exactly those 3 until it acks.
  EXPECT_EQ(deliveries.size(), 3u);
  EXPECT_TRUE(EventuallyBridgeStats("verbose", 7, 3));
  EXPECT_EQ(stream.delivery_count(), 3u);

  // Each ack frees credit for as many more.
  ASSERT_TRUE(stream.Ack({deliveries[0].tag(), deliveries[1].tag()}));
  deliveries = stream.AwaitDeliveries(5);
  EXPECT_EQ(deliveries.size(), 5u);
  EXPECT_TRUE(EventuallyBridgeStats("verbose", 5, 3));

  std::vector<uint64_t> unacked = {deliveries[2].tag(), deliveries[3].tag(),
                                   deliveries[4].tag()};
  ASSERT_TRUE(stream.Ack(unacked));
  deliveries = stream.AwaitDeliveries(8);
  ASSERT_EQ(deliveries.size(), 8u);
  ASSERT_TRUE(stream.Ack(
      {deliveries[5].tag(), deliveries[6].tag(), deliveries[7].tag()}));
  deliveries = stream.AwaitDeliveries(10);
  ASSERT_EQ(deliveries.size(), 10u);
  EXPECT_THAT(IdsOf(deliveries),
              ElementsAre("ev-0", "ev-1", "ev-2", "ev-3", "ev-4", "ev-5",
                          "ev-6", "ev-7", "ev-8", "ev-9"));
  ASSERT_TRUE(stream.Ack({deliveries[8].tag(), deliveries[9].tag()}));
  EXPECT_TRUE(EventuallyBridgeStats("verbose", 0, 0));
}

// A client that half-closes after 'open' (grpcurl with -d) can still
// receive: deliveries go on until its credit is out, since it cannot ack
// them nothing more could come, and the stream ends OK, giving them back.
TEST_F(SubscribeTest, AfterAHalfCloseDeliveriesGoOnUpToTheCredit) {
  Publish("verbose", 2);
  SubscribeStream stream(consumer_.stub.get());
  ASSERT_TRUE(stream.Open({"verbose"}, 3));
  ASSERT_TRUE(stream.WritesDone());
  ASSERT_EQ(stream.AwaitDeliveries(2).size(), 2u);
  EXPECT_TRUE(EventuallyBridgeStats("verbose", 0, 2));

  // The stream is still open: a later event comes too, and fills the
  // credit.
  Publish("verbose", {NumberedEvent(2), NumberedEvent(3)});
  EXPECT_TRUE(stream.Finish().ok());
  EXPECT_THAT(IdsOf(stream.AwaitDeliveries(3)),
              ElementsAre("ev-0", "ev-1", "ev-2"));
  // Unacked, all went back.
  EXPECT_TRUE(EventuallyBridgeStats("verbose", 4, 0));
}

// Acks sent before the half-close count: the stream ends once `credit`
// deliveries are held unacked.
TEST_F(SubscribeTest, AfterAHalfCloseAckedDeliveriesDoNotCount) {
  Publish("verbose", 2);
  SubscribeStream stream(consumer_.stub.get());
  ASSERT_TRUE(stream.Open({"verbose"}, 2));
  auto first = stream.AwaitDeliveries(2);
  ASSERT_EQ(first.size(), 2u);
  ASSERT_TRUE(stream.Ack(TagsOf(first)));
  ASSERT_TRUE(stream.WritesDone());
  EXPECT_TRUE(EventuallyBridgeStats("verbose", 0, 0));

  Publish("verbose", {NumberedEvent(2), NumberedEvent(3), NumberedEvent(4)});
  EXPECT_TRUE(stream.Finish().ok());
  EXPECT_THAT(IdsOf(stream.AwaitDeliveries(4)),
              ElementsAre("ev-0", "ev-1", "ev-2", "ev-3"));
  EXPECT_TRUE(EventuallyBridgeStats("verbose", 3, 0));
}

// `close` ends the stream at once, after the acks sent before it; what the
// app still holds goes back.
TEST_F(SubscribeTest, CloseEndsTheStreamAfterTheAcksBeforeIt) {
  Publish("verbose", 4);
  SubscribeStream stream(consumer_.stub.get());
  ASSERT_TRUE(stream.Open({"verbose"}, 10));
  auto deliveries = stream.AwaitDeliveries(4);
  ASSERT_EQ(deliveries.size(), 4u);
  ASSERT_TRUE(stream.Ack({deliveries[0].tag(), deliveries[1].tag()}));
  SubscribeRequest close;
  close.mutable_close();
  ASSERT_TRUE(stream.Write(close));
  EXPECT_TRUE(stream.Finish().ok());
  EXPECT_TRUE(EventuallyBridgeStats("verbose", 2, 0));
}

// A half-close before 'open' ends the stream at once: there is nothing to
// deliver.
TEST_F(SubscribeTest, AHalfCloseBeforeOpenEndsTheStream) {
  SubscribeStream stream(consumer_.stub.get());
  ASSERT_TRUE(stream.WritesDone());
  EXPECT_TRUE(stream.Finish().ok());
  EXPECT_EQ(stream.delivery_count(), 0u);
}

TEST_F(SubscribeTest, CreditZeroMeansDefaultCredit) {
  Consumer consumer =
      StartConsumer("bridge:\n  address: " + bridge_server_->dial_address() +
                    "\ndefault_credit: 2\n");
  ASSERT_NE(consumer.stub, nullptr);
  Publish("verbose", 5);
  SubscribeStream stream(consumer.stub.get());
  ASSERT_TRUE(stream.Open({"verbose"}, 0));
  EXPECT_TRUE(EventuallyBridgeStats("verbose", 3, 2));
  EXPECT_EQ(stream.AwaitDeliveries(2).size(), 2u);
}

TEST_F(SubscribeTest, NacksReachTheBridge) {
  Publish("verbose", 2);
  SubscribeStream stream(consumer_.stub.get());
  ASSERT_TRUE(stream.Open({"verbose"}, 10));
  auto deliveries = stream.AwaitDeliveries(2);
  ASSERT_EQ(deliveries.size(), 2u);

  // Dropped: it leaves the queue.
  SubscribeRequest drop;
  drop.mutable_nack()->add_tags(deliveries[0].tag());
  drop.mutable_nack()->set_requeue(false);
  ASSERT_TRUE(stream.Write(drop));
  EXPECT_TRUE(EventuallyBridgeStats("verbose", 0, 1));

  // Requeued: it comes again.
  SubscribeRequest requeue;
  requeue.mutable_nack()->add_tags(deliveries[1].tag());
  requeue.mutable_nack()->set_requeue(true);
  ASSERT_TRUE(stream.Write(requeue));
  deliveries = stream.AwaitDeliveries(3);
  ASSERT_EQ(deliveries.size(), 3u);
  EXPECT_EQ(deliveries[2].event().id(), "ev-1");
  EXPECT_TRUE(deliveries[2].redelivered());
  EXPECT_EQ(deliveries[2].delivery_count(), 2u);
  EXPECT_TRUE(EventuallyBridgeStats("verbose", 0, 1));
}

TEST_F(SubscribeTest, CancellingTheAppStreamReturnsUnackedDeliveries) {
  Publish("verbose", 5);
  {
    SubscribeStream stream(consumer_.stub.get());
    ASSERT_TRUE(stream.Open({"verbose"}, 10));
    auto deliveries = stream.AwaitDeliveries(5);
    ASSERT_EQ(deliveries.size(), 5u);
    ASSERT_TRUE(stream.Ack({deliveries[0].tag(), deliveries[1].tag()}));
    // The acks have reached the bridge before the app goes away.
    ASSERT_TRUE(EventuallyBridgeStats("verbose", 0, 3));

    stream.Cancel();
    grpc::Status status = stream.Finish();
    EXPECT_EQ(status.error_code(), grpc::CANCELLED) << status.error_message();
  }
  EXPECT_TRUE(EventuallyBridgeStats("verbose", 3, 0));

  // The next subscriber gets them again, in order, marked as redelivered.
  SubscribeStream next(consumer_.stub.get());
  ASSERT_TRUE(next.Open({"verbose"}, 10));
  auto deliveries = next.AwaitDeliveries(3);
  ASSERT_EQ(deliveries.size(), 3u);
  EXPECT_THAT(IdsOf(deliveries), ElementsAre("ev-2", "ev-3", "ev-4"));
  for (const auto& d : deliveries) {
    EXPECT_TRUE(d.redelivered());
    EXPECT_EQ(d.delivery_count(), 2u);
  }
}

// Two copies of one event (a producer's retry, a transport's republish)
// reach two subscriptions of a queue. The second copy waits while the first
// is held: acking it could drop the only live copy (on a broker, the
// first's tag can die with a reconnect that requeued it and handed it to
// the other subscription), and delivering it would show the event twice.
// Once the first subscription gives its copy back, the event reaches the
// other app, once.
TEST_F(SubscribeTest, ACopyOfAnEventAnotherSubscriptionHoldsWaits) {
  Publish("verbose", 1);  // ev-0
  SubscribeStream first(consumer_.stub.get());
  ASSERT_TRUE(first.Open({"verbose"}, 1));
  ASSERT_THAT(IdsOf(first.AwaitDeliveries(1)), ElementsAre("ev-0"));
  Publish("verbose", {NumberedEvent(0), NumberedEvent(1)});  // ev-0 again, ev-1

  SubscribeStream second(consumer_.stub.get());
  ASSERT_TRUE(second.Open({"verbose"}, 10));
  ASSERT_THAT(IdsOf(second.AwaitDeliveries(1)), ElementsAre("ev-1"));
  // The copy is neither delivered nor acked: three unacked at the bridge.
  ASSERT_TRUE(EventuallyBridgeStats("verbose", 0, 3));
  EXPECT_EQ(second.delivery_count(), 1u);

  first.Cancel();
  first.Finish();
  auto deliveries = second.AwaitDeliveries(2);
  ASSERT_THAT(IdsOf(deliveries), ElementsAre("ev-1", "ev-0"));
  ASSERT_TRUE(second.Ack(TagsOf(deliveries)));
  // Both copies are settled by the one ack, and nothing more comes.
  EXPECT_TRUE(EventuallyBridgeStats("verbose", 0, 0));
  EXPECT_EQ(second.delivery_count(), 2u);
}

}  // namespace
}  // namespace switchboard::consumer
