// The mq-bridge in-process (memory transport) behind a real gRPC server,
// driven by real gRPC clients.
#include "services/mq-bridge/bridge_service.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/common/server.h"
#include "switchboard/v1/bridge.grpc.pb.h"
#include "tests/testing/delivery_stream.h"
#include "tests/testing/eventually.h"

namespace switchboard::bridge {
namespace {

using switchboard::v1::ConsumeRequest;
using switchboard::v1::ConsumeResponse;
using switchboard::v1::GetQueueStatsRequest;
using switchboard::v1::GetQueueStatsResponse;
using switchboard::v1::ProduceRequest;
using switchboard::v1::ProduceResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Bound on every wait: a broken service fails the test instead of hanging.
constexpr absl::Duration kWait = absl::Seconds(30);

std::chrono::system_clock::time_point Deadline() {
  return absl::ToChronoTime(absl::Now() + kWait);
}

// A Consume stream; deliveries are read in the background.
class ConsumeStream
    : public testing::DeliveryStream<ConsumeRequest, ConsumeResponse> {
 public:
  explicit ConsumeStream(switchboard::v1::Bridge::Stub* stub)
      : DeliveryStream(
            [stub](grpc::ClientContext* c) { return stub->Consume(c); },
            kWait) {}

  bool Open(std::vector<std::string> queues, uint32_t prefetch) {
    ConsumeRequest request;
    for (auto& q : queues) request.mutable_open()->add_queues(std::move(q));
    request.mutable_open()->set_prefetch(prefetch);
    return Write(request);
  }
};

std::vector<uint64_t> TagsOf(
    const std::vector<switchboard::v1::Delivery>& deliveries) {
  std::vector<uint64_t> tags;
  for (const auto& d : deliveries) tags.push_back(d.tag());
  return tags;
}

std::vector<std::string> IdsOf(
    const std::vector<switchboard::v1::Delivery>& deliveries) {
  std::vector<std::string> ids;
  for (const auto& d : deliveries) ids.push_back(d.id());
  return ids;
}

ProduceRequest Batch(uint64_t batch_id,
                     const std::vector<std::string>& queues_of_each_event) {
  ProduceRequest request;
  request.set_batch_id(batch_id);
  int i = 0;
  for (const std::string& queue : queues_of_each_event) {
    auto* event = request.add_events();
    event->set_id("b" + std::to_string(batch_id) + "-" + std::to_string(i++));
    event->set_event("payload of " + event->id());
    if (!queue.empty()) event->add_queues(queue);
  }
  return request;
}

void Declare(ProduceRequest* request, const std::string& name,
             bool last_value = false) {
  auto* spec = request->add_declare();
  spec->set_name(name);
  spec->set_last_value(last_value);
}

class BridgeServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto service = BridgeService::Create(ConfigNode(), "127.0.0.1:0");
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = *std::move(service);
    auto server = RunningServer::Start(service_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = switchboard::v1::Bridge::NewStub(grpc::CreateChannel(
        server_->dial_address(), grpc::InsecureChannelCredentials()));
  }

  // Sends every batch on one Produce stream before reading any answer, then
  // returns the answers in the order they came.
  // The stream's end status goes to `end` if given; otherwise it must be
  // OK.
  std::vector<ProduceResponse> Produce(
      const std::vector<ProduceRequest>& batches, grpc::Status* end = nullptr) {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    auto stream = stub_->Produce(&context);
    for (const auto& batch : batches) {
      // A write after the bridge ended the stream fails; that is checked
      // through the status.
      if (!stream->Write(batch)) break;
    }
    std::vector<ProduceResponse> answers;
    ProduceResponse answer;
    while (answers.size() < batches.size() && stream->Read(&answer)) {
      answers.push_back(answer);
    }
    stream->WritesDone();
    grpc::Status status = stream->Finish();
    if (end != nullptr) {
      *end = status;
    } else {
      EXPECT_TRUE(status.ok())
          << status.error_code() << ": " << status.error_message();
    }
    return answers;
  }

  // The bridge's GetQueueStats for one queue.
  grpc::Status Stats(const std::string& queue,
                     switchboard::v1::QueueStats* out) {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    GetQueueStatsRequest request;
    request.add_queues(queue);
    GetQueueStatsResponse response;
    grpc::Status status = stub_->GetQueueStats(&context, request, &response);
    if (status.ok()) {
      if (response.queues_size() != 1) {
        return grpc::Status(
            grpc::StatusCode::INTERNAL,
            "expected stats of one queue, got " + response.ShortDebugString());
      }
      *out = response.queues(0);
    }
    return status;
  }

  // Polls GetQueueStats (bounded) until `queue` has this depth and unacked.
  ::testing::AssertionResult EventuallyStats(const std::string& queue,
                                             uint64_t depth, uint64_t unacked) {
    switchboard::v1::QueueStats stats;
    grpc::Status status;
    return switchboard::testing::Eventually(
        [&] {
          status = Stats(queue, &stats);
          return status.ok() && stats.depth() == depth &&
                 stats.unacked() == unacked;
        },
        [&] {
          return absl::StrCat("queue ", queue, ": wanted depth ", depth,
                              " unacked ", unacked, ", last saw ",
                              status.ok() ? stats.ShortDebugString()
                                          : "error " + status.error_message());
        });
  }

  // Declares `queue` and publishes events with ids `ids` straight into the
  // transport.
  void Publish(const std::string& queue, const std::vector<std::string>& ids) {
    ASSERT_TRUE(service_->transport().DeclareQueue(queue, QueueOptions()).ok());
    std::vector<OutgoingMessage> batch;
    for (const std::string& id : ids) {
      OutgoingMessage& m = batch.emplace_back();
      m.id = id;
      m.payload = std::make_shared<const std::string>("payload of " + id);
      m.queues = {queue};
    }
    auto done = std::make_shared<absl::Notification>();
    auto status = std::make_shared<absl::Status>();
    service_->transport().Publish(std::move(batch),
                                  [done, status](absl::Status s) {
                                    *status = s;
                                    done->Notify();
                                  });
    ASSERT_TRUE(done->WaitForNotificationWithTimeout(kWait));
    ASSERT_TRUE(status->ok()) << *status;
  }

  std::unique_ptr<BridgeService> service_;
  std::unique_ptr<RunningServer> server_;
  std::unique_ptr<switchboard::v1::Bridge::Stub> stub_;
};

// ---------------------------------------------------------------- Produce

TEST_F(BridgeServiceTest, ProduceDeclaresQueuesPublishesAndAnswersInOrder) {
  ProduceRequest first = Batch(7, {"app.a", "app.a", "app.b"});
  Declare(&first, "app.a");
  Declare(&first, "app.b");
  // Also to both queues at once.
  first.mutable_events(2)->add_queues("app.a");
  ProduceRequest second = Batch(3, {"app.a", "app.b"});
  ProduceRequest third = Batch(11, {"app.b"});
  // Declaring an existing queue with the same options is a no-op.
  Declare(&third, "app.b");

  std::vector<ProduceResponse> answers = Produce({first, second, third});

  ASSERT_EQ(answers.size(), 3u);
  EXPECT_EQ(answers[0].batch_id(), 7u);
  EXPECT_EQ(answers[1].batch_id(), 3u);
  EXPECT_EQ(answers[2].batch_id(), 11u);
  for (const auto& answer : answers) {
    EXPECT_EQ(answer.code(), 0) << answer.ShortDebugString();
    EXPECT_EQ(answer.message(), "");
  }
  EXPECT_TRUE(EventuallyStats("app.a", 4, 0));
  EXPECT_TRUE(EventuallyStats("app.b", 3, 0));

  // The events are in the queue in the order they were produced.
  ConsumeStream consume(stub_.get());
  ASSERT_TRUE(consume.Open({"app.a"}, 100));
  auto deliveries = consume.AwaitDeliveries(4);
  EXPECT_THAT(IdsOf(deliveries), ElementsAre("b7-0", "b7-1", "b7-2", "b3-0"));
  ASSERT_FALSE(deliveries.empty());
  EXPECT_EQ(deliveries[0].event(), "payload of b7-0");
}

// An event the bridge cannot place is refused on its own; the rest of its
// batch is stored (it used to fail the whole batch, which the broadcaster
// then dropped whole).
TEST_F(BridgeServiceTest, EventWithNoQueueIsRefusedAloneAndTheBatchStored) {
  ProduceRequest first = Batch(1, {"app.a"});
  Declare(&first, "app.a");
  ProduceRequest bad = Batch(2, {"app.a", "", "app.a"});
  bad.mutable_events(1)->set_id("evt-without-queue");
  ProduceRequest after = Batch(3, {"app.a"});

  std::vector<ProduceResponse> answers = Produce({first, bad, after});

  ASSERT_EQ(answers.size(), 3u);
  EXPECT_EQ(answers[0].code(), 0);
  EXPECT_EQ(answers[1].batch_id(), 2u);
  EXPECT_EQ(answers[1].code(), 0);
  ASSERT_EQ(answers[1].refused_size(), 1);
  const auto& refusal = answers[1].refused(0);
  EXPECT_EQ(refusal.event_index(), 1u);
  EXPECT_EQ(refusal.code(), static_cast<int>(grpc::INVALID_ARGUMENT));
  EXPECT_THAT(refusal.message(), HasSubstr("events[1]"));
  EXPECT_THAT(refusal.message(), HasSubstr("evt-without-queue"));
  EXPECT_THAT(refusal.message(), HasSubstr("names no queue"));
  EXPECT_EQ(answers[2].batch_id(), 3u);
  EXPECT_EQ(answers[2].code(), 0);
  // Batch 1, the two good events of batch 2, batch 3.
  EXPECT_TRUE(EventuallyStats("app.a", 4, 0));
}

// A queue declared again with other options keeps its running ones and
// takes the batch's events (they used to be discarded with the batch).
TEST_F(BridgeServiceTest,
       RedeclaringWithOtherOptionsKeepsTheQueueAndTheEvents) {
  ProduceRequest first = Batch(1, {"link.s1"});
  Declare(&first, "link.s1", /*last_value=*/true);
  ProduceRequest redeclare = Batch(2, {"link.s1"});
  Declare(&redeclare, "link.s1", /*last_value=*/false);

  std::vector<ProduceResponse> answers = Produce({first, redeclare});

  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0].code(), 0);
  EXPECT_EQ(answers[1].batch_id(), 2u);
  EXPECT_EQ(answers[1].code(), 0);
  EXPECT_EQ(answers[1].refused_size(), 0);
  switchboard::v1::QueueStats stats;
  ASSERT_TRUE(Stats("link.s1", &stats).ok());
  EXPECT_TRUE(stats.last_value());
  // Still last-value: batch 2's event replaced batch 1's.
  EXPECT_EQ(stats.depth(), 1u);
}

TEST_F(BridgeServiceTest, PublishingToAnUndeclaredQueueIsNotFound) {
  ProduceRequest first = Batch(1, {"app.a"});
  Declare(&first, "app.a");
  ProduceRequest undeclared = Batch(2, {"app.a", "app.nowhere"});
  ProduceRequest after = Batch(3, {"app.a"});

  grpc::Status end;
  std::vector<ProduceResponse> answers =
      Produce({first, undeclared, after}, &end);

  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0].code(), 0);
  EXPECT_EQ(answers[1].batch_id(), 2u);
  EXPECT_EQ(answers[1].code(), static_cast<int>(grpc::NOT_FOUND));
  EXPECT_THAT(answers[1].message(), HasSubstr("app.nowhere"));
  // The failed batch ends the stream: batch 3 is not published before
  // batch 2 is sent again.
  EXPECT_EQ(end.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_THAT(end.error_message(), HasSubstr("batch 2 failed"));
  EXPECT_TRUE(EventuallyStats("app.a", 1, 0));
}

// ---------------------------------------------------------------- Consume

TEST_F(BridgeServiceTest, ConsumeMustStartWithOpen) {
  Publish("app.a", {"e0"});
  ConsumeStream consume(stub_.get());
  ASSERT_TRUE(consume.Ack({1}));
  grpc::Status status = consume.Finish();
  EXPECT_EQ(status.error_code(), grpc::FAILED_PRECONDITION)
      << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("open"));
  EXPECT_EQ(consume.delivery_count(), 0u);
  EXPECT_TRUE(EventuallyStats("app.a", 1, 0));
}

TEST_F(BridgeServiceTest, OpenTwiceIsFailedPrecondition) {
  Publish("app.a", {"e0"});
  ConsumeStream consume(stub_.get());
  ASSERT_TRUE(consume.Open({"app.a"}, 10));
  consume.Open({"app.a"}, 10);
  grpc::Status status = consume.Finish();
  EXPECT_EQ(status.error_code(), grpc::FAILED_PRECONDITION)
      << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("open"));
  // Whatever the first open got is back in the queue.
  EXPECT_TRUE(EventuallyStats("app.a", 1, 0));
}

TEST_F(BridgeServiceTest, PrefetchOutOfRangeIsInvalidArgument) {
  Publish("app.a", {"e0"});
  for (uint32_t prefetch : {0u, 70000u}) {
    ConsumeStream consume(stub_.get());
    ASSERT_TRUE(consume.Open({"app.a"}, prefetch));
    grpc::Status status = consume.Finish();
    EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT)
        << prefetch << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr("prefetch"));
    EXPECT_EQ(consume.delivery_count(), 0u) << prefetch;
  }
}

TEST_F(BridgeServiceTest, ConsumingAnUnknownQueueIsNotFound) {
  Publish("app.a", {"e0"});
  ConsumeStream consume(stub_.get());
  ASSERT_TRUE(consume.Open({"app.a", "app.unknown"}, 10));
  grpc::Status status = consume.Finish();
  EXPECT_EQ(status.error_code(), grpc::NOT_FOUND) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("app.unknown"));
  EXPECT_EQ(consume.delivery_count(), 0u);
  EXPECT_TRUE(EventuallyStats("app.a", 1, 0));
}

TEST_F(BridgeServiceTest, DeliversInOrderWithTagsAndAcksEmptyTheQueue) {
  Publish("app.a", {"e0", "e1", "e2", "e3", "e4"});
  ConsumeStream consume(stub_.get());
  ASSERT_TRUE(consume.Open({"app.a"}, 100));

  auto deliveries = consume.AwaitDeliveries(5);

  ASSERT_EQ(deliveries.size(), 5u);
  EXPECT_THAT(IdsOf(deliveries), ElementsAre("e0", "e1", "e2", "e3", "e4"));
  std::vector<uint64_t> tags = TagsOf(deliveries);
  for (size_t i = 0; i < deliveries.size(); ++i) {
    const auto& d = deliveries[i];
    EXPECT_EQ(d.queue(), "app.a");
    EXPECT_EQ(d.event(), "payload of " + d.id());
    EXPECT_FALSE(d.redelivered());
    EXPECT_EQ(d.delivery_count(), 1u);
    EXPECT_NE(d.tag(), 0u);
    for (size_t j = 0; j < i; ++j) EXPECT_NE(tags[j], d.tag()) << "tag reused";
  }
  EXPECT_TRUE(EventuallyStats("app.a", 0, 5));

  ASSERT_TRUE(consume.Ack(tags));
  EXPECT_TRUE(EventuallyStats("app.a", 0, 0));

  // Acked means gone: closing the stream brings nothing back.
  ASSERT_TRUE(consume.WritesDone());
  grpc::Status status = consume.Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(EventuallyStats("app.a", 0, 0));
}

TEST_F(BridgeServiceTest, AckingAnUnknownTagIsNotFoundAndRequeuesTheUnacked) {
  Publish("app.a", {"e0", "e1", "e2"});
  {
    ConsumeStream consume(stub_.get());
    ASSERT_TRUE(consume.Open({"app.a"}, 100));
    auto deliveries = consume.AwaitDeliveries(3);
    ASSERT_EQ(deliveries.size(), 3u);
    uint64_t unknown = 1000;
    for (uint64_t tag : TagsOf(deliveries)) ASSERT_NE(tag, unknown);

    ASSERT_TRUE(consume.Ack({unknown}));
    grpc::Status status = consume.Finish();

    EXPECT_EQ(status.error_code(), grpc::NOT_FOUND) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr("1000"));
  }
  EXPECT_TRUE(EventuallyStats("app.a", 3, 0));

  // They come again, in their order, marked as redelivered.
  ConsumeStream again(stub_.get());
  ASSERT_TRUE(again.Open({"app.a"}, 100));
  auto deliveries = again.AwaitDeliveries(3);
  ASSERT_EQ(deliveries.size(), 3u);
  EXPECT_THAT(IdsOf(deliveries), ElementsAre("e0", "e1", "e2"));
  for (const auto& d : deliveries) {
    EXPECT_TRUE(d.redelivered());
    EXPECT_EQ(d.delivery_count(), 2u);
  }
}

TEST_F(BridgeServiceTest, ClosingTheStreamReturnsUnackedDeliveries) {
  Publish("app.a", {"e0", "e1", "e2", "e3"});
  ConsumeStream consume(stub_.get());
  ASSERT_TRUE(consume.Open({"app.a"}, 100));
  auto deliveries = consume.AwaitDeliveries(4);
  ASSERT_EQ(deliveries.size(), 4u);
  ASSERT_TRUE(consume.Ack({deliveries[0].tag()}));
  ASSERT_TRUE(EventuallyStats("app.a", 0, 3));

  ASSERT_TRUE(consume.WritesDone());
  grpc::Status status = consume.Finish();

  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(EventuallyStats("app.a", 3, 0));
}

// -------------------------------------------------------- GetTransportInfo

TEST_F(BridgeServiceTest, TransportInfoDescribesTheMemoryDriver) {
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  switchboard::v1::TransportInfo info;
  grpc::Status status = stub_->GetTransportInfo(
      &context, switchboard::v1::GetTransportInfoRequest(), &info);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(info.driver(), "memory");
  EXPECT_TRUE(info.acks());
  EXPECT_FALSE(info.durable());
  EXPECT_TRUE(info.last_value());
}

// ------------------------------------------------------------------ Config

ConfigNode Yaml(const std::string& text) {
  auto node = ConfigNode::Parse(text, "bridge.yaml");
  EXPECT_TRUE(node.ok()) << node.status();
  return node.ok() ? *node : ConfigNode();
}

TEST(BridgeConfigTest, UnknownDriverIsNotFoundListingTheKnownOnes) {
  auto service = BridgeService::Create(
      Yaml("transport:\n  driver: rabbitmqq\n"), "127.0.0.1:0");
  ASSERT_FALSE(service.ok());
  EXPECT_EQ(service.status().code(), absl::StatusCode::kNotFound);
  std::string message(service.status().message());
  EXPECT_THAT(message, HasSubstr("bridge.yaml: transport.driver: "));
  EXPECT_THAT(message, HasSubstr("rabbitmqq"));
  EXPECT_THAT(message, HasSubstr("memory"));
}

TEST(BridgeConfigTest, ZeroMqIsSelectedByNameAndRefusesToReload) {
  const std::string yaml =
      "transport:\n  driver: zeromq\n  zeromq:\n"
      "    bind: tcp://127.0.0.1:*\n";
  auto service = BridgeService::Create(Yaml(yaml), "127.0.0.1:0");
  ASSERT_TRUE(service.ok()) << service.status();
  EXPECT_EQ((*service)->transport().driver(), "zeromq");
  absl::Status reload = (*service)->Reload(Yaml(yaml));
  EXPECT_EQ(reload.code(), absl::StatusCode::kFailedPrecondition) << reload;
  EXPECT_THAT(std::string(reload.message()), HasSubstr("zeromq transport"));
}

TEST(BridgeConfigTest, UnknownDriverSettingIsInvalidArgumentNamingIt) {
  auto service = BridgeService::Create(
      Yaml("transport:\n  memory:\n    max_queue_size: 5\n"), "127.0.0.1:0");
  ASSERT_FALSE(service.ok());
  EXPECT_EQ(service.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(service.status().message()),
              HasSubstr("bridge.yaml: transport.memory.max_queue_size: "
                        "unknown setting"));
}

}  // namespace
}  // namespace switchboard::bridge
