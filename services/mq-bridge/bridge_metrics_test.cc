#include "services/mq-bridge/bridge_metrics.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/mq-bridge/transport/registry.h"

namespace switchboard::bridge {
namespace {

// Publishes `n` messages to `queue`, waiting for the answer.
void Put(Transport& t, const std::string& queue, int n) {
  std::vector<OutgoingMessage> batch;
  for (int i = 0; i < n; ++i) {
    OutgoingMessage m;
    m.id = queue + std::to_string(i);
    m.payload = std::make_shared<const std::string>("x");
    m.queues = {queue};
    batch.push_back(std::move(m));
  }
  absl::Notification done;
  t.Publish(std::move(batch), [&](PublishResult) { done.Notify(); });
  done.WaitForNotification();
}

// queue label → value of `family`.
std::map<std::string, double> Samples(const BridgeMetrics& metrics,
                                      const std::string& family) {
  std::map<std::string, double> out;
  for (const auto& f : metrics.Collect()) {
    if (f.name != family) continue;
    for (const auto& m : f.metric) {
      out[m.label.empty() ? "" : m.label[0].value] =
          f.type == prometheus::MetricType::Counter ? m.counter.value
                                                    : m.gauge.value;
    }
  }
  return out;
}

class BridgeMetricsTest : public ::testing::Test {
 protected:
  BridgeMetrics::Sources SourcesFor(std::shared_ptr<Transport>* transport) {
    BridgeMetrics::Sources s;
    s.produce = std::make_shared<ProduceCounters>();
    s.transport = [transport] { return *transport; };
    s.transport_up = [] { return true; };
    s.transport_recoveries = [] { return uint64_t{0}; };
    return s;
  }
  // The default driver (embedded; it counts drops per queue).
  static std::shared_ptr<Transport> NewMemory() {
    TransportRegistry& drivers = TransportRegistry::Global();
    auto created = drivers.Create(drivers.DefaultDriver(), ConfigNode());
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? std::shared_ptr<Transport>(*std::move(created))
                        : nullptr;
  }
  static QueueOptions KeepOne() {
    QueueOptions o;
    o.limits.max_length = 1;
    o.limits.overflow = OverflowPolicy::kDropHead;
    return o;
  }
};

// A drop counter of an 'other' label, or of a queue whose transport was
// replaced (a reload), must never go down: Prometheus would read a reset.
TEST_F(BridgeMetricsTest, DropCountersOnlyGrowAcrossTransportsAndTheCap) {
  std::shared_ptr<Transport> transport = NewMemory();
  BridgeMetrics metrics(SourcesFor(&transport), /*max_label_values=*/1,
                        absl::ZeroDuration());
  for (const char* q : {"a", "b", "c"}) {
    ASSERT_TRUE(transport->DeclareQueue(q, KeepOne()).ok());
  }
  Put(*transport, "a", 3);  // 2 dropped
  Put(*transport, "b", 4);  // 3 dropped
  Put(*transport, "c", 2);  // 1 dropped
  EXPECT_EQ(Samples(metrics, "switchboard_bridge_queue_dropped_total"),
            (std::map<std::string, double>{{"a", 2}, {"other", 4}}));
  EXPECT_EQ(Samples(metrics, "switchboard_bridge_queue_depth"),
            (std::map<std::string, double>{{"a", 1}, {"other", 2}}));

  // A reload's new transport starts counting from 0.
  transport = NewMemory();
  ASSERT_TRUE(transport->DeclareQueue("a", KeepOne()).ok());
  ASSERT_TRUE(transport->DeclareQueue("b", KeepOne()).ok());
  Put(*transport, "a", 2);  // 1 dropped
  Put(*transport, "b", 2);  // 1 dropped
  EXPECT_EQ(Samples(metrics, "switchboard_bridge_queue_dropped_total"),
            (std::map<std::string, double>{{"a", 3}, {"other", 5}}));
  // And again: nothing new, nothing added.
  EXPECT_EQ(Samples(metrics, "switchboard_bridge_queue_dropped_total"),
            (std::map<std::string, double>{{"a", 3}, {"other", 5}}));
}

TEST_F(BridgeMetricsTest, QueueStatsAreLookedUpAtMostOncePerInterval) {
  std::shared_ptr<Transport> transport = NewMemory();
  BridgeMetrics metrics(SourcesFor(&transport), 10, absl::Hours(1));
  ASSERT_TRUE(transport->DeclareQueue("a", QueueOptions()).ok());
  EXPECT_EQ(Samples(metrics, "switchboard_bridge_queue_depth")["a"], 0);
  Put(*transport, "a", 5);
  // Served from the last look-up.
  EXPECT_EQ(Samples(metrics, "switchboard_bridge_queue_depth")["a"], 0);
}

}  // namespace
}  // namespace switchboard::bridge
