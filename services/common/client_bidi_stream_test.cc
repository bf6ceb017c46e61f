#include "services/common/client_bidi_stream.h"

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "services/common/bidi_stream.h"
#include "services/common/server.h"
#include "switchboard/v1/bridge.grpc.pb.h"
#include "tests/testing/eventually.h"

namespace switchboard {
namespace {

using ::switchboard::testing::Eventually;
using ::switchboard::testing::kWait;
using switchboard::v1::ConsumeRequest;
using switchboard::v1::ConsumeResponse;

// A request carrying `tag` (an ack, though nothing here is a delivery).
ConsumeRequest Tagged(uint64_t tag) {
  ConsumeRequest request;
  request.mutable_ack()->add_tags(tag);
  return request;
}

// Tags in the order they were seen. Thread-safe.
class TagLog {
 public:
  void Add(uint64_t tag) {
    absl::MutexLock lock(&mu_);
    tags_.push_back(tag);
  }
  std::vector<uint64_t> tags() const {
    absl::MutexLock lock(&mu_);
    return tags_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<uint64_t> tags_ ABSL_GUARDED_BY(mu_);
};

// The server side: Bridge.Consume as an echo. Each request's tags are
// logged and come back as the tags of one response's deliveries; the
// client's half-close ends the stream OK.
class EchoStream final : public BidiStream<ConsumeRequest, ConsumeResponse> {
 public:
  EchoStream(StreamSet* streams, TagLog* log)
      : BidiStream(streams, /*pause_reads_at=*/64), log_(log) {
    StartStream();
  }

 private:
  void OnRequest(ConsumeRequest& request) override {
    ConsumeResponse response;
    for (uint64_t tag : request.ack().tags()) {
      log_->Add(tag);
      response.add_deliveries()->set_tag(tag);
    }
    writer()->Send(std::move(response));
  }

  TagLog* const log_;
};

class EchoService final : public ServiceBase,
                          public switchboard::v1::Bridge::CallbackService {
 public:
  std::string listen_address() const override { return "127.0.0.1:0"; }
  std::vector<grpc::Service*> grpc_services() override { return {this}; }
  void Drain() override { streams.CloseAll(); }

  grpc::ServerBidiReactor<ConsumeRequest, ConsumeResponse>* Consume(
      grpc::CallbackServerContext* context) override {
    return new EchoStream(&streams, &received);
  }

  StreamSet streams;
  // What the server read, over every stream.
  TagLog received;
};

// The client side under test. Owned by the test, which waits for its end.
class EchoCall final
    : public ClientBidiStream<ConsumeRequest, ConsumeResponse> {
 public:
  ~EchoCall() override {
    // A test that failed half-way must not free a running call.
    if (!started_ || ended_.HasBeenNotified()) return;
    Cancel();
    EXPECT_TRUE(ended_.WaitForNotificationWithTimeout(kWait));
  }

  // Starts the call with `first` as its first requests; with `read` false
  // no response is read before ReadNow().
  void Start(switchboard::v1::Bridge::Stub* stub,
             std::vector<ConsumeRequest> first = {}, bool read = true) {
    stub->async()->Consume(context(), this);
    for (ConsumeRequest& request : first) {
      EXPECT_TRUE(Send(std::move(request)));
    }
    started_ = true;
    if (read) {
      StartStream();
    } else {
      StartStreamWithoutReads();
    }
  }
  void ReadNow() { StartReads(); }

  // Waits for the end of the call (OnStreamEnded); its status.
  grpc::Status AwaitEnd() {
    if (!ended_.WaitForNotificationWithTimeout(kWait)) {
      ADD_FAILURE() << "the call did not end";
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "test");
    }
    return status_;
  }

  // The tags of the responses' deliveries, in the order read.
  std::vector<uint64_t> echoed() const { return echoed_.tags(); }
  // The first request was written.
  absl::Notification first_written;

 private:
  void OnResponse(ConsumeResponse& response) override {
    for (const auto& d : response.deliveries()) echoed_.Add(d.tag());
  }
  void OnRequestWritten(bool ok) override {
    if (ok && !first_written.HasBeenNotified()) first_written.Notify();
  }
  void OnStreamEnded(const grpc::Status& status) override {
    EXPECT_FALSE(ended_.HasBeenNotified()) << "OnStreamEnded ran twice";
    status_ = status;
    ended_.Notify();
  }

  bool started_ = false;
  TagLog echoed_;
  grpc::Status status_;  // set before ended_
  absl::Notification ended_;
};

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> tags;
  for (uint64_t t = first; t <= last; ++t) tags.push_back(t);
  return tags;
}

class ClientBidiStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = RunningServer::Start(&service_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = switchboard::v1::Bridge::NewStub(grpc::CreateChannel(
        server_->dial_address(), grpc::InsecureChannelCredentials()));
  }

  EchoService service_;
  std::unique_ptr<RunningServer> server_;
  std::unique_ptr<switchboard::v1::Bridge::Stub> stub_;
};

TEST_F(ClientBidiStreamTest, RequestsFromSeveralThreadsAreWrittenInSendOrder) {
  EchoCall call;
  call.Start(stub_.get());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 250;
  // The order the Sends took, which is the order they must be written in.
  absl::Mutex order_mu;
  std::vector<uint64_t> sent;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const uint64_t tag = static_cast<uint64_t>(t) * 1000 + i;
        absl::MutexLock lock(&order_mu);
        sent.push_back(tag);
        EXPECT_TRUE(call.Send(Tagged(tag)));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  call.Close();
  EXPECT_TRUE(call.AwaitEnd().ok());
  ASSERT_EQ(sent.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(service_.received.tags(), sent);
  // Every response was read, in order, before the end.
  EXPECT_EQ(call.echoed(), sent);
}

TEST_F(ClientBidiStreamTest, CloseHalfClosesAfterTheQueuedRequests) {
  EchoCall call;
  // Sent before the call starts: written first.
  call.Start(stub_.get(), {Tagged(1)});
  for (uint64_t tag = 2; tag <= 100; ++tag) ASSERT_TRUE(call.Send(Tagged(tag)));
  call.Close();
  EXPECT_FALSE(call.Send(Tagged(101))) << "a request after Close is dropped";
  call.Close();  // only the first counts
  // The server's answer to the half-close (OK, after its responses) ends
  // the call.
  const grpc::Status status = call.AwaitEnd();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(service_.received.tags(), Range(1, 100));
  EXPECT_EQ(call.echoed(), Range(1, 100));
}

TEST_F(ClientBidiStreamTest, TheServersStatusReachesOnStreamEnded) {
  EchoCall call;
  call.Start(stub_.get());
  ASSERT_TRUE(call.Send(Tagged(7)));
  ASSERT_TRUE(Eventually([&] { return call.echoed().size() == 1; }));
  service_.streams.FinishAll(
      grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "no more"));
  const grpc::Status status = call.AwaitEnd();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(), "no more");
  EXPECT_FALSE(call.Send(Tagged(8))) << "the call has ended";
  EXPECT_EQ(service_.received.tags(), std::vector<uint64_t>{7});
}

TEST_F(ClientBidiStreamTest, CancelEndsTheCallOnBothSides) {
  EchoCall call;
  call.Start(stub_.get(), {Tagged(1)});
  ASSERT_TRUE(Eventually([&] { return call.echoed().size() == 1; }));
  ASSERT_EQ(service_.streams.size(), 1u);
  call.Cancel();
  EXPECT_EQ(call.AwaitEnd().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_FALSE(call.Send(Tagged(2)));
  EXPECT_TRUE(Eventually([&] { return service_.streams.size() == 0; }));
}

TEST_F(ClientBidiStreamTest, ReadsCanWaitUntilTheFirstRequestIsWritten) {
  EchoCall call;
  call.Start(stub_.get(), {Tagged(1)}, /*read=*/false);
  ASSERT_TRUE(call.first_written.WaitForNotificationWithTimeout(kWait));
  // The server answered, but nothing is read yet.
  ASSERT_TRUE(Eventually(
      [&] { return service_.received.tags() == std::vector<uint64_t>{1}; }));
  EXPECT_TRUE(call.echoed().empty());
  call.ReadNow();
  EXPECT_TRUE(
      Eventually([&] { return call.echoed() == std::vector<uint64_t>{1}; }));
  call.Close();
  EXPECT_TRUE(call.AwaitEnd().ok());
}

}  // namespace
}  // namespace switchboard
