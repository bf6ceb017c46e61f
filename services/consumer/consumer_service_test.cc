// The consumer service in-process, relaying to an in-process bridge (memory
// transport), driven by real gRPC clients.
#include "services/consumer/consumer_service.h"

#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "services/consumer/consumer_fixture.h"
#include "switchboard/v1/consumer.grpc.pb.h"
#include "tests/testing/delivery_stream.h"

namespace switchboard::consumer {
namespace {

using switchboard::v1::Event;
using switchboard::v1::EventDelivery;
using switchboard::v1::ListQueuesRequest;
using switchboard::v1::ListQueuesResponse;
using switchboard::v1::SubscribeRequest;
using switchboard::v1::SubscribeResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A Subscribe stream; deliveries are read in the background.
class SubscribeStream
    : public testing::DeliveryStream<SubscribeRequest, SubscribeResponse> {
 public:
  explicit SubscribeStream(switchboard::v1::Consumer::Stub* stub)
      : DeliveryStream(
            [stub](grpc::ClientContext* c) { return stub->Subscribe(c); },
            kWait) {}

  bool Open(std::vector<std::string> queues, uint32_t credit) {
    SubscribeRequest request;
    for (auto& q : queues) request.mutable_open()->add_queues(std::move(q));
    request.mutable_open()->set_credit(credit);
    return Write(request);
  }
};

std::vector<uint64_t> TagsOf(const std::vector<EventDelivery>& deliveries) {
  std::vector<uint64_t> tags;
  for (const auto& d : deliveries) tags.push_back(d.tag());
  return tags;
}

std::vector<std::string> IdsOf(const std::vector<EventDelivery>& deliveries) {
  std::vector<std::string> ids;
  for (const auto& d : deliveries) ids.push_back(d.event().id());
  return ids;
}

// A link-down event with id "ev-<i>".
Event MakeEvent(int i) {
  Event event;
  event.set_id("ev-" + std::to_string(i));
  event.set_source("kytos/topology");
  event.set_type("kytos/topology.link_down");
  event.set_sequence(i + 1);
  event.set_subject("s1:eth1-s2:eth1");
  event.mutable_time()->set_seconds(1700000000 + i);
  (*event.mutable_attributes())["i"] = std::to_string(i);
  event.mutable_link_status()->set_link_id("s1:eth1-s2:eth1");
  event.mutable_link_status()->set_state(switchboard::v1::LinkStatus::DOWN);
  return event;
}

class ConsumerServiceTest : public ConsumerFixture {
 protected:
  using ConsumerFixture::Publish;

  void Publish(const std::string& queue, int n) {
    std::vector<Event> events;
    for (int i = 0; i < n; ++i) events.push_back(MakeEvent(i));
    Publish(queue, events);
  }

  grpc::Status ListQueues(const Consumer& consumer,
                          const std::vector<std::string>& queues,
                          ListQueuesResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    ListQueuesRequest request;
    for (const auto& q : queues) request.add_queues(q);
    return consumer.stub->ListQueues(&context, request, response);
  }

  // Opens a subscription with `open` (and nothing else) and returns how the
  // stream ended.
  grpc::Status OpenAndFinish(const std::vector<std::string>& queues,
                             uint32_t credit, size_t* deliveries) {
    SubscribeStream stream(consumer_.stub.get());
    EXPECT_TRUE(stream.Open(queues, credit));
    grpc::Status status = stream.Finish();
    *deliveries = stream.delivery_count();
    return status;
  }
};

// -------------------------------------------------------------- Subscribe

TEST_F(ConsumerServiceTest, RelaysDeliveriesWithTheParsedEventAndAcks) {
  std::vector<Event> events = {MakeEvent(0), MakeEvent(1), MakeEvent(2)};
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
TEST_F(ConsumerServiceTest, MalformedEventsAreRejectedToTheDeadLetterQueue) {
  Event bad_utf8 = MakeEvent(1);
  bad_utf8.set_source("kytos/\xc3");
  std::string bad_utf8_bytes;
  ASSERT_TRUE(bad_utf8.SerializePartialToString(&bad_utf8_bytes));
  PublishRaw("app.outside", {{"ev-0", MakeEvent(0).SerializeAsString()},
                             {"junk", "this is not protobuf"},
                             {"ev-1", bad_utf8_bytes},
                             {"ev-3", MakeEvent(3).SerializeAsString()}});
  SubscribeStream stream(consumer_.stub.get());
  ASSERT_TRUE(stream.Open({"app.outside"}, 10));

  auto deliveries = stream.AwaitDeliveries(2);

  ASSERT_EQ(deliveries.size(), 2u);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      deliveries[0].event(), MakeEvent(0)));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      deliveries[1].event(), MakeEvent(3)));
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

TEST_F(ConsumerServiceTest, CreditBoundsUnackedDeliveries) {
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
TEST_F(ConsumerServiceTest, AfterAHalfCloseDeliveriesGoOnUpToTheCredit) {
  Publish("verbose", 2);
  SubscribeStream stream(consumer_.stub.get());
  ASSERT_TRUE(stream.Open({"verbose"}, 3));
  ASSERT_TRUE(stream.WritesDone());
  ASSERT_EQ(stream.AwaitDeliveries(2).size(), 2u);
  EXPECT_TRUE(EventuallyBridgeStats("verbose", 0, 2));

  // The stream is still open: a later event comes too, and fills the
  // credit.
  Publish("verbose", {MakeEvent(2), MakeEvent(3)});
  EXPECT_TRUE(stream.Finish().ok());
  EXPECT_THAT(IdsOf(stream.AwaitDeliveries(3)),
              ElementsAre("ev-0", "ev-1", "ev-2"));
  // Unacked, all went back.
  EXPECT_TRUE(EventuallyBridgeStats("verbose", 4, 0));
}

// Acks sent before the half-close count: the stream ends once `credit`
// deliveries are held unacked.
TEST_F(ConsumerServiceTest, AfterAHalfCloseAckedDeliveriesDoNotCount) {
  Publish("verbose", 2);
  SubscribeStream stream(consumer_.stub.get());
  ASSERT_TRUE(stream.Open({"verbose"}, 2));
  auto first = stream.AwaitDeliveries(2);
  ASSERT_EQ(first.size(), 2u);
  ASSERT_TRUE(stream.Ack(TagsOf(first)));
  ASSERT_TRUE(stream.WritesDone());
  EXPECT_TRUE(EventuallyBridgeStats("verbose", 0, 0));

  Publish("verbose", {MakeEvent(2), MakeEvent(3), MakeEvent(4)});
  EXPECT_TRUE(stream.Finish().ok());
  EXPECT_THAT(IdsOf(stream.AwaitDeliveries(4)),
              ElementsAre("ev-0", "ev-1", "ev-2", "ev-3"));
  EXPECT_TRUE(EventuallyBridgeStats("verbose", 3, 0));
}

// `close` ends the stream at once, after the acks sent before it; what the
// app still holds goes back.
TEST_F(ConsumerServiceTest, CloseEndsTheStreamAfterTheAcksBeforeIt) {
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
TEST_F(ConsumerServiceTest, AHalfCloseBeforeOpenEndsTheStream) {
  SubscribeStream stream(consumer_.stub.get());
  ASSERT_TRUE(stream.WritesDone());
  EXPECT_TRUE(stream.Finish().ok());
  EXPECT_EQ(stream.delivery_count(), 0u);
}

TEST_F(ConsumerServiceTest, CreditZeroMeansDefaultCredit) {
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

TEST_F(ConsumerServiceTest, CreditAboveMaxCreditIsInvalidArgument) {
  Consumer consumer =
      StartConsumer("bridge:\n  address: " + bridge_server_->dial_address() +
                    "\ndefault_credit: 10\nmax_credit: 50\n");
  ASSERT_NE(consumer.stub, nullptr);
  Publish("verbose", 1);
  SubscribeStream stream(consumer.stub.get());
  ASSERT_TRUE(stream.Open({"verbose"}, 51));
  grpc::Status status = stream.Finish();
  EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT)
      << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("max_credit"));
  EXPECT_THAT(status.error_message(), HasSubstr("50"));
  EXPECT_EQ(stream.delivery_count(), 0u);
  EXPECT_TRUE(EventuallyBridgeStats("verbose", 1, 0));
}

TEST_F(ConsumerServiceTest, EmptyQueueListIsInvalidArgument) {
  Publish("verbose", 1);
  size_t deliveries = 0;
  grpc::Status status = OpenAndFinish({}, 10, &deliveries);
  EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT)
      << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("queues"));
  EXPECT_EQ(deliveries, 0u);
}

TEST_F(ConsumerServiceTest, BadQueueNameIsInvalidArgument) {
  Publish("verbose", 1);
  size_t deliveries = 0;
  grpc::Status status =
      OpenAndFinish({"verbose", "app/kytos topology"}, 10, &deliveries);
  EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT)
      << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("app/kytos topology"));
  EXPECT_EQ(deliveries, 0u);
  EXPECT_TRUE(EventuallyBridgeStats("verbose", 1, 0));
}

TEST_F(ConsumerServiceTest, AckedEventsOfAnotherQueueAreInvalidArgument) {
  Publish("verbose", 1);
  for (const auto& [queue, id, field] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"app.other", "ev-0", "open.acked[1].queue 'app.other'"},
           {"verbose", "", "open.acked[1].id is empty"}}) {
    SubscribeStream stream(consumer_.stub.get());
    SubscribeRequest request;
    request.mutable_open()->add_queues("verbose");
    request.mutable_open()->set_credit(10);
    auto* fine = request.mutable_open()->add_acked();
    fine->set_queue("verbose");
    fine->set_id("ev-0");
    auto* bad = request.mutable_open()->add_acked();
    bad->set_queue(queue);
    bad->set_id(id);
    ASSERT_TRUE(stream.Write(request));
    grpc::Status status = stream.Finish();
    EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT)
        << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(field));
    EXPECT_EQ(stream.delivery_count(), 0u);
  }
  // Nothing was recorded (not even the valid entry before the bad one):
  // the event is still delivered.
  SubscribeStream stream(consumer_.stub.get());
  ASSERT_TRUE(stream.Open({"verbose"}, 10));
  EXPECT_THAT(IdsOf(stream.AwaitDeliveries(1)), ElementsAre("ev-0"));
}

TEST_F(ConsumerServiceTest, AckBeforeOpenIsFailedPrecondition) {
  Publish("verbose", 1);
  SubscribeStream stream(consumer_.stub.get());
  ASSERT_TRUE(stream.Ack({1}));
  grpc::Status status = stream.Finish();
  EXPECT_EQ(status.error_code(), grpc::FAILED_PRECONDITION)
      << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("open"));
  EXPECT_EQ(stream.delivery_count(), 0u);
  EXPECT_TRUE(EventuallyBridgeStats("verbose", 1, 0));
}

TEST_F(ConsumerServiceTest, UnknownQueueIsNotFound) {
  Publish("verbose", 1);
  size_t deliveries = 0;
  grpc::Status status =
      OpenAndFinish({"verbose", "app.nobody"}, 10, &deliveries);
  EXPECT_EQ(status.error_code(), grpc::NOT_FOUND) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("app.nobody"));
  EXPECT_EQ(deliveries, 0u);
  EXPECT_TRUE(EventuallyBridgeStats("verbose", 1, 0));
}

TEST_F(ConsumerServiceTest, AckOfAnUnknownTagIsNotFound) {
  Publish("verbose", 2);
  SubscribeStream stream(consumer_.stub.get());
  ASSERT_TRUE(stream.Open({"verbose"}, 10));
  auto deliveries = stream.AwaitDeliveries(2);
  ASSERT_EQ(deliveries.size(), 2u);
  ASSERT_TRUE(stream.Ack({1000}));
  grpc::Status status = stream.Finish();
  EXPECT_EQ(status.error_code(), grpc::NOT_FOUND) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("1000"));
  EXPECT_TRUE(EventuallyBridgeStats("verbose", 2, 0));
}

TEST_F(ConsumerServiceTest, NacksReachTheBridge) {
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

TEST_F(ConsumerServiceTest, CancellingTheAppStreamReturnsUnackedDeliveries) {
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
TEST_F(ConsumerServiceTest, ACopyOfAnEventAnotherSubscriptionHoldsWaits) {
  Publish("verbose", 1);  // ev-0
  SubscribeStream first(consumer_.stub.get());
  ASSERT_TRUE(first.Open({"verbose"}, 1));
  ASSERT_THAT(IdsOf(first.AwaitDeliveries(1)), ElementsAre("ev-0"));
  Publish("verbose", {MakeEvent(0), MakeEvent(1)});  // ev-0 again, ev-1

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

TEST_F(ConsumerServiceTest, SubscribeWithTheBridgeUnreachableIsUnavailable) {
  Consumer orphan = StartConsumer("bridge:\n  address: 127.0.0.1:1\n");
  ASSERT_NE(orphan.stub, nullptr);
  SubscribeStream stream(orphan.stub.get());
  ASSERT_TRUE(stream.Open({"verbose"}, 10));
  grpc::Status status = stream.Finish();
  EXPECT_EQ(status.error_code(), grpc::UNAVAILABLE) << status.error_message();
}

// A "bridge" that takes TCP connections and never speaks: calls to it stay
// open until cancelled.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// gRPC requires a channel to outlive its callback calls: once the consumer
// has stopped, no bridge call may be left open, even to a bridge that
// never answers (it would run on after the service and its channel are
// gone).
TEST_F(ConsumerServiceTest, ShutdownEndsEveryBridgeCall) {
  SilentListener hung;
  Consumer consumer =
      StartConsumer("bridge:\n  address: " + hung.address() + "\n");
  ASSERT_NE(consumer.stub, nullptr);
  SubscribeStream stream(consumer.stub.get());
  ASSERT_TRUE(stream.Open({"verbose"}, 10));
  ASSERT_TRUE(
      Eventually([&] { return consumer.service->open_bridge_calls() == 1; },
                 [&] {
                   return "open bridge calls: " +
                          std::to_string(consumer.service->open_bridge_calls());
                 }));
  consumer.server->Shutdown(absl::Seconds(1));
  EXPECT_EQ(consumer.service->open_bridge_calls(), 0u);
  EXPECT_EQ(stream.Finish().error_code(), grpc::UNAVAILABLE);
}

// ------------------------------------------------------------- ListQueues

TEST_F(ConsumerServiceTest, ListQueuesShowsDepthUnackedAndSubscribers) {
  Publish("app.a", 4);
  Publish("link.s1", {MakeEvent(0)}, /*last_value=*/true);
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

TEST_F(ConsumerServiceTest, ListQueuesWithTheBridgeUnreachableIsUnavailable) {
  // Nothing listens on port 1.
  Consumer orphan = StartConsumer("bridge:\n  address: 127.0.0.1:1\n");
  ASSERT_NE(orphan.stub, nullptr);
  ListQueuesResponse response;
  grpc::Status status = ListQueues(orphan, {}, &response);
  EXPECT_EQ(status.error_code(), grpc::UNAVAILABLE) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("bridge is unreachable"));
  EXPECT_EQ(response.queues_size(), 0);
}

// ----------------------------------------------------------------- Config

TEST(ConsumerConfigTest, DefaultsAreValid) {
  auto config = ConsumerConfig::Parse(ConfigNode(), "");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen.primary_address(), "0.0.0.0:50052");
  EXPECT_EQ(config->bridge_address, "127.0.0.1:50053");
  EXPECT_EQ(config->default_credit, 100u);
  EXPECT_EQ(config->max_credit, 10000u);
}

TEST(ConsumerConfigTest, ErrorsNameTheField) {
  struct Case {
    std::string yaml;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {"max_credit: 100\ndefault_credit: 200\n",
            "default_credit: must be 1 to max_credit"},
           {"default_credit: 0\n", "default_credit: must be 1 to max_credit"},
           {"max_credit: 0\n", "max_credit: must be 1 to 65535"},
           {"max_credit: 70000\n", "max_credit: must be 1 to 65535"},
           {"credit: 5\n", "credit: unknown setting"},
           {"bridge:\n  adress: 127.0.0.1:50053\n",
            "bridge.adress: unknown setting"},
           {"max_credit: lots\n", "max_credit: expected an integer"},
       }) {
    auto config = ConsumerConfig::Parse(Yaml(c.yaml), "");
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument)
        << c.yaml;
    EXPECT_THAT(std::string(config.status().message()),
                HasSubstr("consumer.yaml: " + c.expected));
  }
}

}  // namespace
}  // namespace switchboard::consumer
