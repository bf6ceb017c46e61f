// Stress tests of the concurrent paths, for ASan/UBSan (--config=asan) as
// much as for the default build: the broadcaster, bridge (memory
// transport) and consumer in-process, on real gRPC, with many producers and
// subscribers at once, settings reloads (Admin/Reload) under load, and
// shutdown under load. Short (seconds), bounded waits only, no timing
// assertions and no sleeping to order things: threads meet on conditions.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "services/broadcaster/broadcaster_service.h"
#include "services/common/config.h"
#include "services/common/logging.h"
#include "services/common/server.h"
#include "services/consumer/consumer_service.h"
#include "services/mq-bridge/bridge_service.h"
#include "switchboard/v1/admin.grpc.pb.h"
#include "switchboard/v1/broadcaster.grpc.pb.h"
#include "switchboard/v1/consumer.grpc.pb.h"

namespace switchboard {
namespace {

using switchboard::v1::PublishRequest;
using switchboard::v1::PublishResponse;
using switchboard::v1::SubscribeRequest;
using switchboard::v1::SubscribeResponse;

constexpr int kProducers = 6;
constexpr int kBatchesPerProducer = 40;
constexpr int kEventsPerBatch = 20;
// Bound on every wait, so that a hang fails instead of blocking CI. Not a
// timing expectation: the tests take seconds.
constexpr absl::Duration kBound = absl::Seconds(90);

std::string TempFile(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

// Replaces `path` in one step (a reload never reads half a file).
void WriteFile(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << text;
  }
  ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0) << path;
}

ConfigNode Load(const std::string& path) {
  auto node = ConfigNode::LoadFile(path);
  EXPECT_TRUE(node.ok()) << node.status();
  return node.ok() ? *node : ConfigNode();
}

std::shared_ptr<grpc::Channel> Dial(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
}

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(absl::ToChronoTime(absl::Now() + kBound));
}

// Ids seen by subscribers, and a wait for a set of them.
class Seen {
 public:
  void Add(const std::string& id) {
    absl::MutexLock lock(&mu_);
    ids_.insert(id);
  }
  // Waits (bounded) until every id of `want` was seen; returns how many
  // were not.
  size_t AwaitAll(const std::vector<std::string>& want) {
    absl::MutexLock lock(&mu_);
    auto all = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const std::string& id : want) {
        if (!ids_.contains(id)) return false;
      }
      return true;
    };
    mu_.AwaitWithTimeout(absl::Condition(&all), kBound);
    size_t missing = 0;
    for (const std::string& id : want) missing += !ids_.contains(id);
    return missing;
  }
  // Waits (bounded) until `n` distinct ids were seen; returns whether.
  bool AwaitCount(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return ids_.size() >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kBound);
  }

 private:
  absl::Mutex mu_;
  absl::flat_hash_set<std::string> ids_ ABSL_GUARDED_BY(mu_);
};

// A subscriber thread on the consumer: subscribes to `queue`, acks what it
// gets, and every `churn` responses drops the stream without acking (its
// deliveries go back to the queue), then subscribes again. Runs until
// Stop(); a stream that fails (the queue is not declared yet, the consumer
// shuts down) is opened again.
class Subscriber {
 public:
  Subscriber(std::shared_ptr<grpc::Channel> channel, std::string queue,
             int churn, Seen* seen)
      : stub_(switchboard::v1::Consumer::NewStub(std::move(channel))),
        queue_(std::move(queue)),
        churn_(churn),
        seen_(seen) {
    thread_ = std::thread([this] { Run(); });
  }

  ~Subscriber() { Stop(); }

  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      if (context_ != nullptr) context_->TryCancel();
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run() {
    for (;;) {
      grpc::ClientContext context;
      SetDeadline(&context);
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) return;
        context_ = &context;
      }
      auto stream = stub_->Subscribe(&context);
      SubscribeRequest open;
      open.mutable_open()->add_queues(queue_);
      open.mutable_open()->set_credit(64);
      int reads = 0;
      if (stream->Write(open)) {
        SubscribeResponse response;
        while (stream->Read(&response)) {
          SubscribeRequest ack;
          for (const auto& d : response.deliveries()) {
            seen_->Add(d.event().id());
            ack.mutable_ack()->add_tags(d.tag());
          }
          if (churn_ > 0 && ++reads % churn_ == 0) break;  // unacked
          if (!stream->Write(ack)) break;
        }
      }
      context.TryCancel();
      stream->Finish();
      absl::MutexLock lock(&mu_);
      context_ = nullptr;
      if (reads == 0) {
        // Nothing came (the queue is not declared yet, the consumer is
        // gone): a pause before trying again, cut short by Stop().
        mu_.AwaitWithTimeout(absl::Condition(&stopping_),
                             absl::Milliseconds(20));
      }
    }
  }

  std::unique_ptr<switchboard::v1::Consumer::Stub> stub_;
  const std::string queue_;
  const int churn_;
  Seen* const seen_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread thread_;
};

// One producer's Publish stream: `batches` batches written by this thread
// while a reader thread takes the answers. Returns the ids of accepted
// events. `forever` keeps writing until the stream breaks.
struct ProducerResult {
  std::vector<std::string> accepted;
  int answers = 0;
  grpc::Status status;
};

ProducerResult Produce(std::shared_ptr<grpc::Channel> channel, int producer,
                       int batches, bool forever) {
  auto stub = switchboard::v1::Broadcaster::NewStub(std::move(channel));
  grpc::ClientContext context;
  SetDeadline(&context);
  auto stream = stub->Publish(&context);
  ProducerResult result;
  std::thread reader([&] {
    PublishResponse response;
    while (stream->Read(&response)) {
      ++result.answers;
      for (const std::string& id : response.event_ids()) {
        if (!id.empty()) result.accepted.push_back(id);
      }
    }
  });
  for (int b = 0; forever || b < batches; ++b) {
    PublishRequest request;
    request.set_batch_id(b + 1);
    for (int i = 0; i < kEventsPerBatch; ++i) {
      auto* e = request.add_events();
      e->set_source(absl::StrCat("stress/p", producer));
      e->set_type(i % 5 == 0 ? "stress.drop" : "stress.event");
      e->set_subject(absl::StrCat("s", i));
      (*e->mutable_attributes())["batch"] = absl::StrCat(b);
    }
    if (!stream->Write(request)) break;
  }
  stream->WritesDone();
  reader.join();
  result.status = stream->Finish();
  return result;
}

// Broadcaster settings the reloads switch between: the filters change what
// goes to the app queues; every event still reaches the verbose queue.
std::string BroadcasterYaml(const std::string& bridge, int variant) {
  std::string yaml = absl::StrCat("listen: 127.0.0.1:0\nbridge:\n  address: ",
                                  bridge, "\n  backoff_initial: 10ms\n");
  if (variant % 2 == 1) {
    absl::StrAppend(&yaml,
                    "filters:\n  queues:\n    app.stress.p0: {deny: "
                    "['stress\\.drop']}\nbuffer:\n  max_events: 500000\n");
  }
  return yaml;
}

class PipelineStressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(SetLogLevel("warn").ok());
    bridge_file_ = TempFile("bridge.yaml");
    WriteFile(bridge_file_, "listen: 127.0.0.1:0\n");
    auto bridge = bridge::BridgeService::Create(Load(bridge_file_), "");
    ASSERT_TRUE(bridge.ok()) << bridge.status();
    bridge_ = *std::move(bridge);
    auto bridge_server = RunningServer::Start(bridge_.get(), bridge_file_);
    ASSERT_TRUE(bridge_server.ok()) << bridge_server.status();
    bridge_server_ = *std::move(bridge_server);

    broadcaster_file_ = TempFile("broadcaster.yaml");
    WriteFile(broadcaster_file_,
              BroadcasterYaml(bridge_server_->dial_address(), 0));
    auto broadcaster = broadcaster::BroadcasterService::Create(
        Load(broadcaster_file_), "");
    ASSERT_TRUE(broadcaster.ok()) << broadcaster.status();
    broadcaster_ = *std::move(broadcaster);
    auto broadcaster_server =
        RunningServer::Start(broadcaster_.get(), broadcaster_file_);
    ASSERT_TRUE(broadcaster_server.ok()) << broadcaster_server.status();
    broadcaster_server_ = *std::move(broadcaster_server);

    const std::string consumer_file = TempFile("consumer.yaml");
    WriteFile(consumer_file,
              absl::StrCat("listen: 127.0.0.1:0\nbridge:\n  address: ",
                           bridge_server_->dial_address(), "\n"));
    auto consumer = consumer::ConsumerService::Create(Load(consumer_file), "");
    ASSERT_TRUE(consumer.ok()) << consumer.status();
    consumer_ = *std::move(consumer);
    auto consumer_server = RunningServer::Start(consumer_.get(), consumer_file);
    ASSERT_TRUE(consumer_server.ok()) << consumer_server.status();
    consumer_server_ = *std::move(consumer_server);

    broadcaster_channel_ = Dial(broadcaster_server_->dial_address());
    consumer_channel_ = Dial(consumer_server_->dial_address());
  }

  void TearDown() override {
    // Consumer first (its bridge streams end), then the producers' side.
    if (consumer_server_) consumer_server_->Shutdown(absl::Seconds(5));
    if (broadcaster_server_) broadcaster_server_->Shutdown(absl::Seconds(5));
    if (bridge_server_) bridge_server_->Shutdown(absl::Seconds(5));
  }

  // Admin/Reload of a server; the answer may be a refusal (another reload
  // running, shutting down, a transport that cannot swap): only that it
  // answers is checked.
  static grpc::Status Reload(const std::string& address) {
    auto stub = switchboard::v1::Admin::NewStub(Dial(address));
    grpc::ClientContext context;
    SetDeadline(&context);
    switchboard::v1::ReloadRequest request;
    switchboard::v1::ReloadResponse response;
    return stub->Reload(&context, request, &response);
  }

  std::string bridge_file_, broadcaster_file_;
  std::unique_ptr<bridge::BridgeService> bridge_;
  std::unique_ptr<broadcaster::BroadcasterService> broadcaster_;
  std::unique_ptr<consumer::ConsumerService> consumer_;
  std::unique_ptr<RunningServer> bridge_server_, broadcaster_server_,
      consumer_server_;
  std::shared_ptr<grpc::Channel> broadcaster_channel_, consumer_channel_;
};

// Producers, competing and churning subscribers and reloads of the
// broadcaster and bridge, all at once. Every event the broadcaster accepts
// reaches the verbose queue's subscribers (at least once).
TEST_F(PipelineStressTest, ProducersSubscribersAndReloadsAtOnce) {
  Seen verbose, apps;
  std::vector<std::unique_ptr<Subscriber>> subscribers;
  // Two competing subscribers on the verbose queue, one dropping its
  // stream unacked now and then; two on app queues.
  subscribers.push_back(std::make_unique<Subscriber>(
      consumer_channel_, "verbose", /*churn=*/0, &verbose));
  subscribers.push_back(std::make_unique<Subscriber>(
      consumer_channel_, "verbose", /*churn=*/7, &verbose));
  subscribers.push_back(std::make_unique<Subscriber>(
      consumer_channel_, "app.stress.p0", /*churn=*/5, &apps));
  subscribers.push_back(std::make_unique<Subscriber>(
      consumer_channel_, "app.stress.p1", /*churn=*/0, &apps));

  std::atomic<bool> producing{true};
  std::thread reloads([&] {
    // As many reloads as fit while the producers run, alternating the
    // broadcaster's settings; the bridge's memory transport may refuse to
    // swap, which is an answer too.
    for (int i = 1; producing.load() && i <= 200; ++i) {
      WriteFile(broadcaster_file_,
                BroadcasterYaml(bridge_server_->dial_address(), i));
      const grpc::Status b = Reload(broadcaster_server_->dial_address());
      EXPECT_TRUE(b.ok() || b.error_code() == grpc::StatusCode::ABORTED)
          << b.error_message();
      (void)Reload(bridge_server_->dial_address());
    }
  });

  std::vector<ProducerResult> results(kProducers);
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      results[p] = Produce(broadcaster_channel_, p, kBatchesPerProducer,
                           /*forever=*/false);
    });
  }
  for (std::thread& t : producers) t.join();
  producing = false;
  reloads.join();

  std::vector<std::string> accepted;
  for (int p = 0; p < kProducers; ++p) {
    EXPECT_TRUE(results[p].status.ok()) << results[p].status.error_message();
    EXPECT_EQ(results[p].answers, kBatchesPerProducer) << "producer " << p;
    accepted.insert(accepted.end(), results[p].accepted.begin(),
                    results[p].accepted.end());
  }
  EXPECT_EQ(accepted.size(),
            size_t{kProducers} * kBatchesPerProducer * kEventsPerBatch);
  EXPECT_EQ(verbose.AwaitAll(accepted), 0u)
      << "accepted events that never reached the verbose queue";
  for (auto& s : subscribers) s->Stop();
}

// Shutdown while producers write and subscribers read as fast as they can:
// every server stops, every client stream ends, nothing is touched after
// it is freed (ASan) and nothing hangs.
TEST_F(PipelineStressTest, ShutdownUnderLoad) {
  Seen seen;
  std::vector<std::unique_ptr<Subscriber>> subscribers;
  for (int i = 0; i < 3; ++i) {
    subscribers.push_back(std::make_unique<Subscriber>(
        consumer_channel_, "verbose", /*churn=*/i == 0 ? 3 : 0, &seen));
  }
  std::vector<std::thread> producers;
  std::vector<ProducerResult> results(kProducers);
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      results[p] = Produce(broadcaster_channel_, p, 0, /*forever=*/true);
    });
  }
  // Under load: events flow end to end.
  EXPECT_TRUE(seen.AwaitCount(500));
  const grpc::Status reload = Reload(broadcaster_server_->dial_address());
  EXPECT_TRUE(reload.ok() || reload.error_code() == grpc::StatusCode::ABORTED)
      << reload.error_message();
  // The order of a deployment's stop: producers' side, bridge, consumer.
  broadcaster_server_->Shutdown(absl::Seconds(1));
  bridge_server_->Shutdown(absl::Seconds(1));
  consumer_server_->Shutdown(absl::Seconds(1));
  // Every producer's stream ended with the broadcaster, not at its
  // deadline.
  for (std::thread& t : producers) t.join();
  for (int p = 0; p < kProducers; ++p) {
    EXPECT_NE(results[p].status.error_code(),
              grpc::StatusCode::DEADLINE_EXCEEDED)
        << "producer " << p;
  }
  for (auto& s : subscribers) s->Stop();
}

}  // namespace
}  // namespace switchboard
