// The broadcaster in-process, forwarding to an in-process bridge.
#include "services/broadcaster/broadcaster_service.h"

#include "absl/strings/ascii.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/mq-bridge/bridge_service.h"
#include "services/mq-bridge/transport/registry.h"
#include "tests/testing/eventually.h"

namespace switchboard::broadcaster {
namespace {

using switchboard::testing::Eventually;
using switchboard::v1::Event;
using switchboard::v1::PublishRequest;
using ::testing::HasSubstr;

ConfigNode Yaml(const std::string& text) {
  auto node = ConfigNode::Parse(text, "broadcaster.yaml");
  EXPECT_TRUE(node.ok()) << node.status();
  return *node;
}

PublishRequest Batch(const std::string& source, int n) {
  PublishRequest request;
  for (int i = 0; i < n; ++i) {
    Event* e = request.add_events();
    e->set_source(source);
    e->set_type("kytos/topology.link_down");
  }
  return request;
}

TEST(BroadcasterConfigTest, DefaultsAreValid) {
  auto config = BroadcasterConfig::Parse(ConfigNode(), "");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen.primary_address(), "0.0.0.0:50051");
  EXPECT_EQ(config->bridge.bridge_address, "127.0.0.1:50053");
  EXPECT_EQ(config->buffer.overflow, OverflowPolicy::kReject);
}

TEST(BroadcasterConfigTest, ErrorsNameTheField) {
  struct Case {
    std::string yaml;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {"bridge:\n  batch_max_events: 0\n",
            "bridge.batch_max_events: must be at least 1"},
           {"bridge:\n  backoff_initial: 2s\n  backoff_max: 1s\n",
            "bridge.backoff_max: must be at least backoff_initial"},
           {"buffer:\n  overflow: drop_newest\n",
            "buffer.overflow: unknown overflow policy"},
           {"max_event_bytes: 2000000\nbuffer:\n  max_bytes: 100000\n",
            "max_event_bytes: must not exceed buffer.max_bytes"},
           {"routing:\n  verbose: x\n", "routing.verbose: unknown setting"},
           {"flush_timeout: soon\n", "flush_timeout: expected a duration"},
       }) {
    auto config = BroadcasterConfig::Parse(Yaml(c.yaml), "");
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument)
        << c.yaml;
    EXPECT_THAT(std::string(config.status().message()),
                HasSubstr("broadcaster.yaml: " + c.expected));
  }
}

TEST(NewEventIdTest, IsAUuidV4AndUnique) {
  std::string a = NewEventId();
  std::string b = NewEventId();
  EXPECT_NE(a, b);
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a[8], '-');
  EXPECT_EQ(a[14], '4');
  EXPECT_THAT(std::string("89ab"), HasSubstr(std::string(1, a[19])));
  // 8-4-4-4-12 lower-case hex digits, for many of them.
  for (int i = 0; i < 1000; ++i) {
    const std::string id = NewEventId();
    ASSERT_EQ(id.size(), 36u);
    for (size_t at = 0; at < id.size(); ++at) {
      if (at == 8 || at == 13 || at == 18 || at == 23) {
        ASSERT_EQ(id[at], '-') << id;
      } else {
        ASSERT_TRUE(absl::ascii_isxdigit(id[at]) &&
                    !absl::ascii_isupper(id[at]))
            << id;
      }
    }
    ASSERT_EQ(id[14], '4') << id;
  }
}

class BroadcasterServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bridge_ = *bridge::BridgeService::Create(ConfigNode(), "127.0.0.1:0");
    bridge_server_ = *RunningServer::Start(bridge_.get());
  }

  std::unique_ptr<BroadcasterService> Broadcaster(const std::string& yaml) {
    auto config = BroadcasterConfig::Parse(
        Yaml("bridge:\n  address: " + bridge_server_->dial_address() +
             "\n  backoff_initial: 10ms\n" + yaml),
        "127.0.0.1:0");
    EXPECT_TRUE(config.ok()) << config.status();
    auto service = std::make_unique<BroadcasterService>(*config);
    EXPECT_TRUE(service->Start().ok());
    return service;
  }

  uint64_t Depth(const std::string& queue) {
    auto stats = bridge_->transport().GetQueueStats({queue});
    return stats.ok() ? (*stats)[0].depth : 0;
  }

  std::unique_ptr<bridge::BridgeService> bridge_;
  std::unique_ptr<RunningServer> bridge_server_;
};

TEST_F(BroadcasterServiceTest, AssignsIdsTimesAndPerSourceSequences) {
  auto service = Broadcaster("");
  PublishRequest first = Batch("kytos/topology", 3);
  first.mutable_events(1)->set_id("producer-chosen");
  auto answer = service->Accept(first);
  EXPECT_EQ(answer.accepted(), 3u);
  EXPECT_EQ(answer.event_ids(1), "producer-chosen");
  EXPECT_EQ(answer.event_ids(0).size(), 36u);
  PublishRequest other = Batch("kytos/of_core", 1);
  service->Accept(other);
  PublishRequest second = Batch("kytos/topology", 1);
  service->Accept(second);
  EXPECT_EQ(first.events(0).sequence(), 1u);
  EXPECT_EQ(first.events(2).sequence(), 3u);
  EXPECT_EQ(other.events(0).sequence(), 1u);
  EXPECT_EQ(second.events(0).sequence(), 4u);
  EXPECT_TRUE(first.events(0).has_time());
  EXPECT_TRUE(Eventually([&] { return Depth("verbose") == 5; }));
  EXPECT_EQ(Depth("app.kytos.topology"), 4u);
  service->Stop();
}

// Each new source made a new queue at the bridge, without bound.
TEST_F(BroadcasterServiceTest, QueuesFromProducerInputAreCapped) {
  auto service = Broadcaster("routing:\n  max_dynamic_queues: 3\n");
  PublishRequest batch;
  for (int i = 0; i < 5; ++i) {
    Event* e = batch.add_events();
    e->set_source("app" + std::to_string(i));
    e->set_type("t");
  }
  // A known source still passes once the cap is reached.
  *batch.add_events() = batch.events(0);
  auto answer = service->Accept(batch);
  EXPECT_EQ(answer.accepted(), 4u);
  ASSERT_EQ(answer.rejections_size(), 2);
  for (int k = 0; k < 2; ++k) {
    EXPECT_EQ(answer.rejections(k).index(), static_cast<uint32_t>(3 + k));
    EXPECT_EQ(answer.rejections(k).code(),
              static_cast<int>(absl::StatusCode::kResourceExhausted));
    EXPECT_THAT(answer.rejections(k).reason(),
                HasSubstr("routing.max_dynamic_queues (3) reached"));
  }
  EXPECT_EQ(service->Stats().rejected_queue_cap(), 2u);
  EXPECT_EQ(service->Stats().rejected_invalid(), 0u);
  service->Stop();
}

TEST_F(BroadcasterServiceTest, OversizedBatchIsRejectedWhole) {
  auto service = Broadcaster("max_batch_events: 10\n");
  PublishRequest batch = Batch("a", 11);
  auto answer = service->Accept(batch);
  EXPECT_EQ(answer.accepted(), 0u);
  ASSERT_EQ(answer.rejections_size(), 11);
  EXPECT_THAT(answer.rejections(0).reason(),
              HasSubstr("limit is 10 (max_batch_events)"));
  service->Stop();
}

TEST_F(BroadcasterServiceTest, DropOldestAcceptsEverythingAndCountsDrops) {
  // No bridge: point at a port nothing listens on.
  auto config = BroadcasterConfig::Parse(
      Yaml("bridge:\n  address: 127.0.0.1:1\nbuffer:\n  max_events: 10\n"
           "  overflow: drop_oldest\n"),
      "127.0.0.1:0");
  ASSERT_TRUE(config.ok());
  BroadcasterService service(*config);
  ASSERT_TRUE(service.Start().ok());
  PublishRequest batch = Batch("a", 25);
  EXPECT_EQ(service.Accept(batch).accepted(), 25u);
  auto stats = service.Stats();
  EXPECT_EQ(stats.dropped(), 15u);
  EXPECT_EQ(stats.buffered(), 10u);
  EXPECT_FALSE(stats.bridge_connected());
  service.Stop();
}

}  // namespace
}  // namespace switchboard::broadcaster

namespace switchboard::broadcaster {
namespace {

// A memory transport that fails exactly one chosen Publish (counting those
// that carry messages) with Unavailable, as a broker's passing trouble
// would, and passes every other one through.
class FailOneBatch final : public bridge::Transport {
 public:
  FailOneBatch(std::unique_ptr<bridge::Transport> inner, int fail_at)
      : inner_(std::move(inner)), fail_at_(fail_at) {}

  absl::string_view driver() const override { return inner_->driver(); }
  bridge::Capabilities capabilities() const override {
    return inner_->capabilities();
  }
  absl::Status DeclareQueue(absl::string_view name,
                            const bridge::QueueOptions& options) override {
    return inner_->DeclareQueue(name, options);
  }
  void Publish(std::vector<bridge::OutgoingMessage> batch,
               bridge::PublishCallback done) override {
    if (!batch.empty() && ++publishes_ == fail_at_) {
      done(absl::UnavailableError("injected failure of this one batch"));
      return;
    }
    inner_->Publish(std::move(batch), std::move(done));
  }
  absl::StatusOr<std::unique_ptr<bridge::Subscription>> Subscribe(
      const bridge::SubscribeOptions& options,
      bridge::DeliveryHandler handler) override {
    return inner_->Subscribe(options, std::move(handler));
  }
  absl::StatusOr<std::vector<bridge::QueueStats>> GetQueueStats(
      absl::Span<const std::string> queues) override {
    return inner_->GetQueueStats(queues);
  }

 private:
  std::unique_ptr<bridge::Transport> inner_;
  const int fail_at_;
  std::atomic<int> publishes_{0};
};

// With several batches in flight, batch k failed while k+1.. succeeded, and
// k was resent after them: out of its source's order. Now the failure ends
// the bridge stream and everything from k on is sent again, in order.
TEST(ForwardingOrderTest, AFailedBatchInFlightIsResentBeforeTheOnesAfterIt) {
  bridge::TransportRegistry& drivers = bridge::TransportRegistry::Global();
  auto created = drivers.Create(drivers.DefaultDriver(), ConfigNode());
  ASSERT_TRUE(created.ok()) << created.status();
  std::unique_ptr<bridge::Transport> store = *std::move(created);
  bridge::Transport* memory = store.get();
  bridge::BridgeConfig bridge_config;
  bridge_config.listen = "127.0.0.1:0";
  bridge::BridgeService bridge(
      bridge_config, std::make_unique<FailOneBatch>(std::move(store), 3));
  auto server = RunningServer::Start(&bridge);
  ASSERT_TRUE(server.ok()) << server.status();

  // Small batches, many in flight; all events are buffered before the
  // forwarder connects, so batches 3, 4, 5... are in flight together.
  auto config = BroadcasterConfig::Parse(
      Yaml("bridge:\n  address: " + (*server)->dial_address() +
           "\n  backoff_initial: 10ms\n  batch_max_events: 10\n"
           "  max_inflight_batches: 8\n"),
      "127.0.0.1:0");
  ASSERT_TRUE(config.ok()) << config.status();
  BroadcasterService service(*config);
  constexpr int kEvents = 500;
  for (int i = 0; i < kEvents / 50; ++i) {
    PublishRequest batch = Batch("s", 50);
    ASSERT_EQ(service.Accept(batch).accepted(), 50u);
  }
  ASSERT_TRUE(service.Start().ok());

  std::vector<uint64_t> sequences;
  absl::Mutex mu;
  ASSERT_TRUE(memory->DeclareQueue("app.s", {}).ok());
  auto sub = memory->Subscribe({{"app.s"}, 10000},
                               [&](std::vector<bridge::Delivery> got) {
                                 absl::MutexLock lock(&mu);
                                 for (const bridge::Delivery& d : got) {
                                   Event e;
                                   ASSERT_TRUE(e.ParseFromString(*d.payload));
                                   sequences.push_back(e.sequence());
                                 }
                               });
  ASSERT_TRUE(sub.ok()) << sub.status();
  {
    absl::MutexLock lock(&mu);
    auto all = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return sequences.size() >= static_cast<size_t>(kEvents);
    };
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(30)))
        << sequences.size();
  }
  service.Stop();
  absl::MutexLock lock(&mu);
  std::vector<uint64_t> expected(kEvents);
  for (int i = 0; i < kEvents; ++i) expected[i] = i + 1;
  EXPECT_EQ(sequences, expected);
  EXPECT_GE(service.Stats().bridge_connects(), 2u)
      << "the failed batch reopened the stream";
  (*server)->Shutdown(absl::Seconds(5));
}

}  // namespace
}  // namespace switchboard::broadcaster
