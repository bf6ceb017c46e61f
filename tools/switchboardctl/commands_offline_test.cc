// The parts of the RPC side that need no running services: formatting,
// dialing, errors, and the CLI's checks for protocol violations that the real
// services never commit (played by fakes).
#include <grpcpp/grpcpp.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/switchboardctl/commands.h"

namespace switchboard::ctl {
namespace {

using ::testing::ElementsAre;

TEST(FormatQueueTableTest, MarksLastValueQueues) {
  // The broadcaster declares no last-value queue yet, so the real services
  // cannot show one: the formatting is checked on its own.
  v1::ListQueuesResponse response;
  v1::QueueInfo* q = response.add_queues();
  q->set_name("app.kytos.topology");
  q->set_depth(12);
  q->set_unacked(3);
  q->set_subscribers(1);
  v1::QueueInfo* lv = response.add_queues();
  lv->set_name("link.s1");
  lv->set_last_value(true);
  EXPECT_EQ(
      FormatQueueTable(response),
      "NAME                DEPTH  UNACKED  SUBSCRIBERS  LAST_VALUE  "
      "DROPPED  REJECTED  EXPIRED  DEAD_LETTERED\n"
      "app.kytos.topology  12     3        1            no          0        "
      "0         0        0\n"
      "link.s1             0      0        0            yes         0        "
      "0         0        0\n");
}

TEST(ConnectTest, UnreachableAddressNamesItAndTheTimeout) {
  // Port 1 on loopback: nothing listens there.
  auto channel = Connect("127.0.0.1:1", absl::Milliseconds(300));
  ASSERT_FALSE(channel.ok());
  EXPECT_EQ(channel.status().message(),
            "cannot reach 127.0.0.1:1 within 300ms");
}

TEST(RpcErrorTest, NamesTheCallAndTheCode) {
  absl::Status s = RpcError(
      "GetStats", grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "late"));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(s.message(), "GetStats failed: DEADLINE_EXCEEDED: late");
}

// FAKES, on purpose: the real broadcaster always answers each batch with its
// own id, in order, and the real consumer service never ends a subscription
// with OK while the client still reads (it ends it only when the client
// half-closes, or with an error). These commit exactly those violations, so
// that the CLI's checks for them run.
class WrongBatchIdBroadcaster : public v1::Broadcaster::Service {
 public:
  grpc::Status Publish(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::PublishResponse, v1::PublishRequest>* stream)
      override {
    v1::PublishRequest request;
    while (stream->Read(&request)) {
      v1::PublishResponse response;
      response.set_batch_id(request.batch_id() + 7);
      if (!stream->Write(response)) break;
    }
    return grpc::Status::OK;
  }
};

class EndsEarlyConsumer : public v1::Consumer::Service {
 public:
  grpc::Status Subscribe(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::SubscribeResponse, v1::SubscribeRequest>*
          stream) override {
    v1::SubscribeRequest request;
    if (!stream->Read(&request)) return grpc::Status::OK;
    v1::SubscribeResponse response;
    response.add_deliveries()->set_tag(1);
    stream->Write(response);
    return grpc::Status::OK;
  }
};

class ProtocolViolationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&broadcaster_);
    builder.RegisterService(&consumer_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    auto channel = Connect(absl::StrCat("127.0.0.1:", port), absl::Seconds(5));
    ASSERT_TRUE(channel.ok()) << channel.status();
    broadcaster_stub_ = v1::Broadcaster::NewStub(*channel);
    consumer_stub_ = v1::Consumer::NewStub(*channel);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  WrongBatchIdBroadcaster broadcaster_;
  EndsEarlyConsumer consumer_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Broadcaster::Stub> broadcaster_stub_;
  std::unique_ptr<v1::Consumer::Stub> consumer_stub_;
};

TEST_F(ProtocolViolationTest, PublishChecksTheAnswersBatchIds) {
  PublishOptions options;
  options.event.set_source("s");
  options.event.set_type("t");
  options.count = 5;
  std::ostringstream out, err;
  PublishSummary summary;
  absl::Status status =
      Publish(*broadcaster_stub_, options, out, err, &summary);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(status.message(),
            "Publish: the broadcaster answered batch 8 while batch 1 was due");
}

TEST_F(ProtocolViolationTest, TailFailsWhenTheStreamEndsBeforeCount) {
  TailOptions options;
  options.queues = {"q"};
  options.count = 5;
  std::ostringstream out;
  absl::Status status = Tail(*consumer_stub_, options, out);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(status.message(),
            "the consumer service ended the subscription after 1 of 5 "
            "deliveries");
  std::vector<std::string> lines =
      absl::StrSplit(out.str(), '\n', absl::SkipEmpty());
  EXPECT_THAT(lines, ElementsAre(R"({"tag":"1"})"));
}

}  // namespace
}  // namespace switchboard::ctl
