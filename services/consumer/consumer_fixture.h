#ifndef SWITCHBOARD_SERVICES_CONSUMER_CONSUMER_FIXTURE_H_
#define SWITCHBOARD_SERVICES_CONSUMER_CONSUMER_FIXTURE_H_

// A test fixture for the consumer service in-process, relaying to an
// in-process bridge (memory transport), driven by real gRPC clients.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "services/common/config.h"
#include "services/common/server.h"
#include "services/consumer/consumer_service.h"
#include "services/mq-bridge/bridge_service.h"
#include "switchboard/v1/consumer.grpc.pb.h"
#include "switchboard/v1/event.pb.h"
#include "tests/testing/delivery_stream.h"
#include "tests/testing/eventually.h"

namespace switchboard::consumer {

// Bound on every wait: a broken service fails the test instead of hanging.
inline constexpr absl::Duration kWait = absl::Seconds(30);

inline std::chrono::system_clock::time_point Deadline() {
  return absl::ToChronoTime(absl::Now() + kWait);
}

inline ConfigNode Yaml(const std::string& text) {
  auto node = ConfigNode::Parse(text, "consumer.yaml");
  EXPECT_TRUE(node.ok()) << node.status();
  return node.ok() ? *node : ConfigNode();
}

using ::switchboard::testing::Eventually;

// A Subscribe stream; deliveries are read in the background.
class SubscribeStream
    : public testing::DeliveryStream<switchboard::v1::SubscribeRequest,
                                     switchboard::v1::SubscribeResponse> {
 public:
  explicit SubscribeStream(switchboard::v1::Consumer::Stub* stub)
      : DeliveryStream(
            [stub](grpc::ClientContext* c) { return stub->Subscribe(c); },
            kWait) {}

  bool Open(std::vector<std::string> queues, uint32_t credit) {
    switchboard::v1::SubscribeRequest request;
    for (auto& q : queues) request.mutable_open()->add_queues(std::move(q));
    request.mutable_open()->set_credit(credit);
    return Write(request);
  }
};

inline std::vector<uint64_t> TagsOf(
    const std::vector<switchboard::v1::EventDelivery>& deliveries) {
  std::vector<uint64_t> tags;
  for (const auto& d : deliveries) tags.push_back(d.tag());
  return tags;
}

inline std::vector<std::string> IdsOf(
    const std::vector<switchboard::v1::EventDelivery>& deliveries) {
  std::vector<std::string> ids;
  for (const auto& d : deliveries) ids.push_back(d.event().id());
  return ids;
}

// A link-down event with id "ev-<i>".
inline switchboard::v1::Event NumberedEvent(int i) {
  switchboard::v1::Event event;
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

// A running ConsumerService.
struct Consumer {
  std::unique_ptr<ConsumerService> service;
  std::unique_ptr<RunningServer> server;
  std::unique_ptr<switchboard::v1::Consumer::Stub> stub;
};

// Starts a bridge, and a consumer (`consumer_`) on it with BaseYaml().
class ConsumerFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    auto bridge = bridge::BridgeService::Create(ConfigNode(), "127.0.0.1:0");
    ASSERT_TRUE(bridge.ok()) << bridge.status();
    bridge_ = *std::move(bridge);
    auto server = RunningServer::Start(bridge_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    bridge_server_ = *std::move(server);
    consumer_ = StartConsumer(BaseYaml());
    ASSERT_NE(consumer_.stub, nullptr);
  }

  // The consumer config of the fixture: the bridge's address, plus what a
  // test suite adds.
  virtual std::string BaseYaml() const {
    return "bridge:\n  address: " + bridge_server_->dial_address() + "\n";
  }

  // Starts a consumer with this config (consumer.yaml), on `clock` (null:
  // the real one).
  Consumer StartConsumer(const std::string& yaml,
                         TimerWorker::Clock clock = nullptr) {
    Consumer consumer;
    auto config = ConsumerConfig::Parse(Yaml(yaml), "127.0.0.1:0");
    EXPECT_TRUE(config.ok()) << config.status();
    if (!config.ok()) return consumer;
    auto service =
        ConsumerService::Create(*std::move(config), std::move(clock));
    EXPECT_TRUE(service.ok()) << service.status();
    if (!service.ok()) return consumer;
    consumer.service = *std::move(service);
    auto server = RunningServer::Start(consumer.service.get());
    EXPECT_TRUE(server.ok()) << server.status();
    if (!server.ok()) return consumer;
    consumer.server = *std::move(server);
    consumer.stub = switchboard::v1::Consumer::NewStub(grpc::CreateChannel(
        consumer.server->dial_address(), grpc::InsecureChannelCredentials()));
    return consumer;
  }

  // Declares `queue` on the bridge and publishes `events` to it, as one
  // batch, through the bridge's transport.
  void Publish(const std::string& queue,
               const std::vector<switchboard::v1::Event>& events,
               bool last_value = false) {
    std::vector<std::pair<std::string, std::string>> payloads;
    for (const switchboard::v1::Event& event : events) {
      payloads.emplace_back(event.id(), event.SerializeAsString());
    }
    PublishRaw(queue, payloads, last_value);
  }

  // Declares `queue` and publishes `payloads` (id, bytes) to it as they
  // are, as an outside AMQP publisher could.
  void PublishRaw(
      const std::string& queue,
      const std::vector<std::pair<std::string, std::string>>& payloads,
      bool last_value = false) {
    bridge::QueueOptions options;
    options.last_value = last_value;
    ASSERT_TRUE(bridge_->transport().DeclareQueue(queue, options).ok());
    std::vector<bridge::OutgoingMessage> batch;
    for (const auto& [id, bytes] : payloads) {
      bridge::OutgoingMessage& m = batch.emplace_back();
      m.id = id;
      m.payload = std::make_shared<const std::string>(bytes);
      m.queues = {queue};
    }
    auto done = std::make_shared<absl::Notification>();
    auto status = std::make_shared<absl::Status>();
    bridge_->transport().Publish(std::move(batch),
                                 [done, status](absl::Status s) {
                                   *status = s;
                                   done->Notify();
                                 });
    ASSERT_TRUE(done->WaitForNotificationWithTimeout(kWait));
    ASSERT_TRUE(status->ok()) << *status;
  }

  // Polls the bridge's stats (bounded) until `queue` has this depth and
  // unacked count.
  ::testing::AssertionResult EventuallyBridgeStats(const std::string& queue,
                                                   uint64_t depth,
                                                   uint64_t unacked) {
    absl::StatusOr<std::vector<bridge::QueueStats>> stats;
    return Eventually(
        [&] {
          stats = bridge_->transport().GetQueueStats({queue});
          return stats.ok() && (*stats)[0].depth == depth &&
                 (*stats)[0].unacked == unacked;
        },
        [&] {
          std::string seen =
              stats.ok() ? "depth " + std::to_string((*stats)[0].depth) +
                               " unacked " + std::to_string((*stats)[0].unacked)
                         : stats.status().ToString();
          return "queue " + queue + ": wanted depth " + std::to_string(depth) +
                 " unacked " + std::to_string(unacked) + ", last saw " + seen;
        });
  }

  std::unique_ptr<bridge::BridgeService> bridge_;
  std::unique_ptr<RunningServer> bridge_server_;
  Consumer consumer_;
};

// ConsumerFixture, publishing numbered events (NumberedEvent): the tests
// of Subscribe and ListQueues.
class ConsumerRpcTest : public ConsumerFixture {
 protected:
  using ConsumerFixture::Publish;

  // Publishes NumberedEvent(0) to NumberedEvent(n - 1) to `queue`, as one
  // batch.
  void Publish(const std::string& queue, int n) {
    std::vector<switchboard::v1::Event> events;
    for (int i = 0; i < n; ++i) events.push_back(NumberedEvent(i));
    Publish(queue, events);
  }
};

}  // namespace switchboard::consumer

#endif  // SWITCHBOARD_SERVICES_CONSUMER_CONSUMER_FIXTURE_H_
