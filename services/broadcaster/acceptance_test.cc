// Acceptance levels through real gRPC: the broadcaster in-process with its
// server, forwarding to an in-process bridge (memory transport), and
// producers on Publish streams.
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/broadcaster/broadcaster_service.h"
#include "services/common/server.h"
#include "services/mq-bridge/bridge_service.h"
#include "switchboard/v1/broadcaster.grpc.pb.h"
#include "tests/testing/eventually.h"

namespace switchboard::broadcaster {
namespace {

using switchboard::v1::Event;
using switchboard::v1::PublishRequest;
using switchboard::v1::PublishResponse;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(30);

ConfigNode Yaml(const std::string& text) {
  auto node = ConfigNode::Parse(text, "test.yaml");
  EXPECT_TRUE(node.ok()) << node.status();
  return node.ok() ? *node : ConfigNode();
}

// A loopback port nothing listens on now (bound, then released).
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

PublishRequest Batch(uint64_t id, int n, switchboard::v1::Acceptance level) {
  PublishRequest request;
  request.set_batch_id(id);
  request.set_acceptance(level);
  for (int i = 0; i < n; ++i) {
    Event* e = request.add_events();
    e->set_source("x");
    e->set_type("test.event");
  }
  return request;
}

// One Publish stream; answers are read in the background.
class Producer {
 public:
  Producer(const std::string& address, const std::string& acceptance_header)
      : stub_(switchboard::v1::Broadcaster::NewStub(
            grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))) {
    context_.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    if (!acceptance_header.empty()) {
      context_.AddMetadata(std::string(kAcceptanceHeader), acceptance_header);
    }
    stream_ = stub_->Publish(&context_);
    reader_ = std::thread([this] {
      PublishResponse r;
      while (stream_->Read(&r)) {
        absl::MutexLock lock(&mu_);
        answers_.push_back(r);
      }
    });
  }
  ~Producer() { Finish(); }

  bool Write(const PublishRequest& request) { return stream_->Write(request); }

  // Waits (bounded) for `n` answers; returns those there are.
  std::vector<PublishResponse> Await(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return answers_.size() >= n;
    };
    mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
    return answers_;
  }
  std::vector<PublishResponse> answers() {
    absl::MutexLock lock(&mu_);
    return answers_;
  }

  // Half-closes: no more batches.
  void DoneWriting() {
    if (!writes_done_) stream_->WritesDone();
    writes_done_ = true;
  }

  grpc::Status Finish() {
    if (finished_) return status_;
    finished_ = true;
    DoneWriting();
    reader_.join();
    status_ = stream_->Finish();
    return status_;
  }

 private:
  std::unique_ptr<switchboard::v1::Broadcaster::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<PublishRequest, PublishResponse>>
      stream_;
  std::thread reader_;
  absl::Mutex mu_;
  std::vector<PublishResponse> answers_ ABSL_GUARDED_BY(mu_);
  bool writes_done_ = false;
  bool finished_ = false;
  grpc::Status status_;
};

class AcceptanceTest : public ::testing::Test {
 protected:
  void StartBridge(const std::string& listen) {
    auto bridge = bridge::BridgeService::Create(ConfigNode(), listen);
    ASSERT_TRUE(bridge.ok()) << bridge.status();
    bridge_ = *std::move(bridge);
    auto server = RunningServer::Start(bridge_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    bridge_server_ = *std::move(server);
  }

  void StartBroadcaster(const std::string& bridge_address,
                        const std::string& yaml = "") {
    auto service = BroadcasterService::Create(
        Yaml("bridge:\n  address: " + bridge_address +
             "\n  backoff_initial: 10ms\n  backoff_max: 50ms\n" + yaml),
        "127.0.0.1:0");
    ASSERT_TRUE(service.ok()) << service.status();
    broadcaster_ = *std::move(service);
    auto server = RunningServer::Start(broadcaster_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    broadcaster_server_ = *std::move(server);
  }

  void TearDown() override {
    if (broadcaster_server_) broadcaster_server_->Shutdown(absl::Seconds(1));
    if (bridge_server_) bridge_server_->Shutdown(absl::Seconds(1));
  }

  // Polls the broadcaster's stats (bounded) until `done` holds.
  ::testing::AssertionResult StatsReach(
      const std::function<bool(const switchboard::v1::BroadcasterStats&)>&
          done) {
    switchboard::v1::BroadcasterStats stats;
    return switchboard::testing::Eventually(
        [&] { return done(stats = broadcaster_->Stats()); },
        [&] { return stats.DebugString(); });
  }

  std::unique_ptr<bridge::BridgeService> bridge_;
  std::unique_ptr<RunningServer> bridge_server_;
  std::unique_ptr<BroadcasterService> broadcaster_;
  std::unique_ptr<RunningServer> broadcaster_server_;
};

// CONFIRMED waits for the transport: while the bridge is down the batch is
// buffered and unanswered, and a BUFFERED batch behind it on the same
// stream waits too (answers stay in order). Once the bridge is up both are
// answered, in order, everything accepted.
TEST_F(AcceptanceTest, ConfirmedIsAnsweredOnlyOnceTheBridgeHasConfirmed) {
  const std::string bridge_address = "127.0.0.1:" + std::to_string(FreePort());
  StartBroadcaster(bridge_address);
  Producer producer(broadcaster_server_->dial_address(), "");
  ASSERT_TRUE(producer.Write(Batch(1, 3, switchboard::v1::CONFIRMED)));
  ASSERT_TRUE(producer.Write(Batch(2, 2, switchboard::v1::BUFFERED)));
  ASSERT_TRUE(StatsReach([](const auto& s) {
    return s.confirm_waiting() == 1 && s.accepted() == 5;
  }));
  // Both batches are in; neither may be answered before the bridge is.
  EXPECT_TRUE(producer.answers().empty());

  StartBridge(bridge_address);
  std::vector<PublishResponse> answers = producer.Await(2);
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0].batch_id(), 1u);
  EXPECT_EQ(answers[0].accepted(), 3u);
  EXPECT_EQ(answers[0].rejections_size(), 0);
  EXPECT_EQ(answers[1].batch_id(), 2u);
  EXPECT_EQ(answers[1].accepted(), 2u);
  const switchboard::v1::BroadcasterStats stats = broadcaster_->Stats();
  EXPECT_EQ(stats.confirmed(), 3u);
  EXPECT_EQ(stats.confirm_waiting(), 0u);
  // Confirmed means in the queue.
  auto depth = bridge_->transport().GetQueueStats({"verbose"});
  ASSERT_TRUE(depth.ok()) << depth.status();
  EXPECT_EQ((*depth)[0].depth, 5u);
}

// A producer that half-closes with a CONFIRMED batch waiting still gets
// its answer: the stream ends OK only after it.
TEST_F(AcceptanceTest, AHalfClosedStreamEndsOnlyAfterTheWaitingAnswers) {
  const std::string bridge_address = "127.0.0.1:" + std::to_string(FreePort());
  StartBroadcaster(bridge_address);
  Producer producer(broadcaster_server_->dial_address(), "confirmed");
  ASSERT_TRUE(
      producer.Write(Batch(1, 2, switchboard::v1::ACCEPTANCE_UNSPECIFIED)));
  ASSERT_TRUE(StatsReach([](const auto& s) {
    return s.confirm_waiting() == 1 && s.accepted() == 2;
  }));
  producer.DoneWriting();
  StartBridge(bridge_address);
  const grpc::Status status = producer.Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  std::vector<PublishResponse> answers = producer.answers();
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].accepted(), 2u);
}

// The stream's level comes from the request header; a batch's own level
// overrides it.
TEST_F(AcceptanceTest, TheHeaderSetsTheStreamsLevel) {
  const std::string bridge_address = "127.0.0.1:" + std::to_string(FreePort());
  StartBroadcaster(bridge_address);
  Producer producer(broadcaster_server_->dial_address(), "confirmed");
  ASSERT_TRUE(
      producer.Write(Batch(1, 1, switchboard::v1::ACCEPTANCE_UNSPECIFIED)));
  ASSERT_TRUE(StatsReach([](const auto& s) {
    return s.confirm_waiting() == 1 && s.accepted() == 1;
  }));
  EXPECT_TRUE(producer.answers().empty());
  StartBridge(bridge_address);
  ASSERT_EQ(producer.Await(1).size(), 1u);
  EXPECT_EQ(broadcaster_->Stats().confirmed(), 1u);
}

TEST_F(AcceptanceTest, AnUnknownHeaderValueIsInvalidArgumentNamingIt) {
  StartBridge("127.0.0.1:0");
  StartBroadcaster(bridge_server_->dial_address());
  Producer producer(broadcaster_server_->dial_address(), "eventually");
  const grpc::Status status = producer.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              HasSubstr("header switchboard-acceptance: 'eventually'"));
}

TEST_F(AcceptanceTest, AnUnknownLevelRejectsTheBatchNamingTheField) {
  StartBridge("127.0.0.1:0");
  StartBroadcaster(bridge_server_->dial_address());
  Producer producer(broadcaster_server_->dial_address(), "");
  ASSERT_TRUE(
      producer.Write(Batch(1, 2, static_cast<switchboard::v1::Acceptance>(7))));
  std::vector<PublishResponse> answers = producer.Await(1);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].accepted(), 0u);
  ASSERT_EQ(answers[0].rejections_size(), 2);
  EXPECT_THAT(answers[0].rejections(0).reason(), HasSubstr("acceptance: 7"));
}

// A copy a queue refuses (full, reject-publish) is not safe: under
// CONFIRMED its event is a rejection naming the queue, while the events
// the queue took are accepted.
TEST_F(AcceptanceTest, ACopyAQueueRefusedMakesItsEventARejection) {
  StartBridge("127.0.0.1:0");
  StartBroadcaster(bridge_server_->dial_address(),
                   "queue_limits:\n  patterns:\n    'app\\..*': "
                   "{max_length: 1, overflow: reject-publish}\n");
  Producer producer(broadcaster_server_->dial_address(), "confirmed");
  ASSERT_TRUE(
      producer.Write(Batch(1, 3, switchboard::v1::ACCEPTANCE_UNSPECIFIED)));
  std::vector<PublishResponse> answers = producer.Await(1);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].accepted(), 1u);
  ASSERT_EQ(answers[0].rejections_size(), 2);
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(answers[0].rejections(r).index(), static_cast<uint32_t>(r + 1));
    EXPECT_EQ(answers[0].rejections(r).code(),
              static_cast<int32_t>(grpc::StatusCode::RESOURCE_EXHAUSTED));
    EXPECT_THAT(answers[0].rejections(r).reason(),
                HasSubstr("queue 'app.x' refused it"));
  }
  // Their ids stay known: the other queues (verbose) took them.
  EXPECT_EQ(answers[0].event_ids_size(), 3);
  EXPECT_FALSE(answers[0].event_ids(2).empty());
  EXPECT_EQ(broadcaster_->Stats().confirm_failed(), 2u);
}

}  // namespace
}  // namespace switchboard::broadcaster
