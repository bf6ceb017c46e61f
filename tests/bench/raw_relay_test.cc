// The raw relay forwards streams unparsed, in order, both ways, and ends
// them as their ends do: what the benchmark's raw baseline relies on.
#include "tests/bench/raw_relay.h"

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "services/common/bidi_stream.h"
#include "services/common/server.h"
#include "switchboard/v1/bridge.grpc.pb.h"

namespace switchboard::bench {
namespace {

using switchboard::v1::ProduceRequest;
using switchboard::v1::ProduceResponse;

// Answers each batch with its id and the count of its events; after
// `fail_after` batches, ends the stream ABORTED instead.
class Sink final : public switchboard::v1::Bridge::CallbackService,
                   public ServiceBase {
 public:
  explicit Sink(int fail_after = -1) : fail_after_(fail_after) {}
  std::string listen_address() const override { return "127.0.0.1:0"; }
  std::vector<grpc::Service*> grpc_services() override { return {this}; }

  grpc::ServerBidiReactor<ProduceRequest, ProduceResponse>* Produce(
      grpc::CallbackServerContext*) override {
    class Stream final : public BidiStream<ProduceRequest, ProduceResponse> {
     public:
      explicit Stream(int fail_after)
          : BidiStream(nullptr, 64), fail_after_(fail_after) {
        StartStream();
      }
      void OnRequest(ProduceRequest& r) override {
        if (fail_after_ >= 0 && seen_++ == fail_after_) {
          writer()->Finish(grpc::Status(grpc::StatusCode::ABORTED, "enough"));
          return;
        }
        ProduceResponse answer;
        answer.set_batch_id(r.batch_id());
        answer.set_code(r.events_size());
        writer()->Send(std::move(answer));
      }

     private:
      const int fail_after_;
      int seen_ = 0;
    };
    return new Stream(fail_after_);
  }

 private:
  const int fail_after_;
};

ProduceRequest Batch(uint64_t id, int events) {
  ProduceRequest r;
  r.set_batch_id(id);
  for (int i = 0; i < events; ++i) {
    auto* e = r.add_events();
    e->set_id(std::to_string(i));
    e->set_event(std::string(256, static_cast<char>(i)));
  }
  return r;
}

struct Chain {
  std::unique_ptr<RunningServer> sink_server;
  std::unique_ptr<RawRelay> second;
  std::unique_ptr<RawRelay> first;
  std::unique_ptr<switchboard::v1::Bridge::Stub> stub;
};

Chain Start(Sink* sink) {
  Chain c;
  auto server = RunningServer::Start(sink);
  EXPECT_TRUE(server.ok()) << server.status();
  c.sink_server = *std::move(server);
  auto second = RawRelay::Start("127.0.0.1:0", c.sink_server->dial_address());
  EXPECT_TRUE(second.ok()) << second.status();
  c.second = *std::move(second);
  auto first = RawRelay::Start("127.0.0.1:0",
                               "127.0.0.1:" + std::to_string(c.second->port()));
  EXPECT_TRUE(first.ok()) << first.status();
  c.first = *std::move(first);
  c.stub = switchboard::v1::Bridge::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(c.first->port()),
                          grpc::InsecureChannelCredentials()));
  return c;
}

TEST(RawRelayTest, ForwardsEveryMessageInOrderBothWaysThroughTwoRelays) {
  Sink sink;
  Chain chain = Start(&sink);
  grpc::ClientContext context;
  auto stream = chain.stub->Produce(&context);
  // More than the relays queue, so their flow control is exercised.
  constexpr int kBatches = 500;
  std::thread writer([&] {
    for (int i = 1; i <= kBatches; ++i) {
      ASSERT_TRUE(stream->Write(Batch(i, i % 7)));
    }
    stream->WritesDone();
  });
  ProduceResponse answer;
  int next = 1;
  while (stream->Read(&answer)) {
    ASSERT_EQ(answer.batch_id(), static_cast<uint64_t>(next)) << "out of order";
    EXPECT_EQ(answer.code(), next % 7) << "a batch arrived altered";
    ++next;
  }
  writer.join();
  EXPECT_EQ(next, kBatches + 1);
  // The sink ends the stream OK once the client's half-close reached it.
  EXPECT_TRUE(stream->Finish().ok());
}

TEST(RawRelayTest, TheFarEndsStatusComesBackAfterTheAnswersBeforeIt) {
  Sink sink(/*fail_after=*/3);
  Chain chain = Start(&sink);
  grpc::ClientContext context;
  auto stream = chain.stub->Produce(&context);
  for (int i = 1; i <= 4; ++i) stream->Write(Batch(i, 1));
  ProduceResponse answer;
  int answers = 0;
  while (stream->Read(&answer)) ++answers;
  EXPECT_EQ(answers, 3);
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(status.error_message(), "enough");
}

}  // namespace
}  // namespace switchboard::bench
