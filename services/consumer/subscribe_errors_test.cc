// Subscribe's refusals through the consumer in-process, relaying to an
// in-process bridge (memory transport): bad requests, and a bridge that is
// unreachable or never answers.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/consumer/consumer_fixture.h"
#include "switchboard/v1/consumer.grpc.pb.h"

namespace switchboard::consumer {
namespace {

using switchboard::v1::SubscribeRequest;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class SubscribeErrorsTest : public ConsumerRpcTest {
 protected:
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

TEST_F(SubscribeErrorsTest, CreditAboveMaxCreditIsInvalidArgument) {
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

TEST_F(SubscribeErrorsTest, EmptyQueueListIsInvalidArgument) {
  Publish("verbose", 1);
  size_t deliveries = 0;
  grpc::Status status = OpenAndFinish({}, 10, &deliveries);
  EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT)
      << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("queues"));
  EXPECT_EQ(deliveries, 0u);
}

TEST_F(SubscribeErrorsTest, BadQueueNameIsInvalidArgument) {
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

TEST_F(SubscribeErrorsTest, AckedEventsOfAnotherQueueAreInvalidArgument) {
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

TEST_F(SubscribeErrorsTest, AckBeforeOpenIsFailedPrecondition) {
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

TEST_F(SubscribeErrorsTest, UnknownQueueIsNotFound) {
  Publish("verbose", 1);
  size_t deliveries = 0;
  grpc::Status status =
      OpenAndFinish({"verbose", "app.nobody"}, 10, &deliveries);
  EXPECT_EQ(status.error_code(), grpc::NOT_FOUND) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("app.nobody"));
  EXPECT_EQ(deliveries, 0u);
  EXPECT_TRUE(EventuallyBridgeStats("verbose", 1, 0));
}

TEST_F(SubscribeErrorsTest, AckOfAnUnknownTagIsNotFound) {
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

TEST_F(SubscribeErrorsTest, SubscribeWithTheBridgeUnreachableIsUnavailable) {
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
TEST_F(SubscribeErrorsTest, ShutdownEndsEveryBridgeCall) {
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

}  // namespace
}  // namespace switchboard::consumer
