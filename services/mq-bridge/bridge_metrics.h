#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_BRIDGE_METRICS_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_BRIDGE_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/collectable.h"
#include "prometheus/histogram.h"
#include "services/common/metrics/metrics.h"
#include "services/mq-bridge/transport/transport.h"

namespace switchboard::bridge {

// What the bridge's Produce streams count, per batch. Thread-safe.
struct ProduceCounters {
  ProduceCounters();

  // A batch handed to the transport; `Published` when it answers.
  void Handed(uint64_t events) { produced += events; }
  void Published(uint64_t events, uint64_t refused, bool ok,
                 absl::Duration elapsed);

  std::atomic<uint64_t> produced{0};
  std::atomic<uint64_t> confirmed{0};
  std::atomic<uint64_t> refused{0};
  std::atomic<uint64_t> failed_batches{0};
  // Seconds from Transport::Publish to its answer (the broker's confirm on
  // rabbitmq), per batch.
  prometheus::Histogram publish_latency;
};

// The bridge's metrics (README "Metrics"), read at scrape time: the
// counters above, the transport's health, and every queue's stats from the
// transport (queue labels capped at `max_label_values`: gauges keep the
// deepest queues, counters the first queues seen; the rest are summed
// under "other"). Thread-safe.
class BridgeMetrics final : public prometheus::Collectable {
 public:
  struct Sources {
    std::shared_ptr<const ProduceCounters> produce;
    // The transport in use now.
    std::function<std::shared_ptr<Transport>()> transport;
    // Whether the transport answers, and how often it came back.
    std::function<bool()> transport_up;
    std::function<uint64_t()> transport_recoveries;
  };
  BridgeMetrics(Sources sources, uint32_t max_label_values);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const Sources sources_;
  const uint32_t max_label_values_;
  mutable absl::Mutex mu_;
  mutable CounterLabelCap counter_labels_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard::bridge

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_BRIDGE_METRICS_H_
