#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_BRIDGE_METRICS_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_BRIDGE_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
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
// transport, looked up at most every kQueueStatsInterval (on rabbitmq a
// look-up is one passive declare per queue). Queue labels are capped at
// `max_label_values`: gauges keep the deepest queues, counters the first
// queues seen; the rest are summed under "other". The per-queue counters
// only grow: each look-up adds what a queue counted since the last one (a
// queue that expired, or a new transport after a reload, starts again from
// its own count). Drivers without drop counters (Capabilities) export no
// dropped/expired/dead-lettered counts. Thread-safe.
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
  static constexpr absl::Duration kQueueStatsInterval = absl::Seconds(2);

  // `queue_stats_interval`: tests look again at every Collect.
  BridgeMetrics(Sources sources, uint32_t max_label_values,
                absl::Duration queue_stats_interval = kQueueStatsInterval);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  // dropped, rejected, expired, dead_lettered.
  using Counts = std::array<uint64_t, 4>;
  // Looks the queues up again when the last look-up is older than
  // kQueueStatsInterval.
  void Refresh(Transport& transport) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CollectProduce(const Transport& transport,
                      std::vector<prometheus::MetricFamily>& out) const;
  void CollectQueues(Transport& transport,
                     std::vector<prometheus::MetricFamily>& out) const;

  const Sources sources_;
  const uint32_t max_label_values_;
  const absl::Duration queue_stats_interval_;
  mutable absl::Mutex mu_;
  mutable CounterLabelCap counter_labels_ ABSL_GUARDED_BY(mu_);
  mutable absl::Time refreshed_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  mutable absl::StatusOr<std::vector<QueueStats>> queues_ ABSL_GUARDED_BY(mu_);
  // Each queue's counts at the last look-up.
  mutable std::map<std::string, Counts> last_ ABSL_GUARDED_BY(mu_);
  // What each label counted, growing only.
  mutable std::map<std::string, Counts> totals_ ABSL_GUARDED_BY(mu_);
  mutable bool drop_counters_ ABSL_GUARDED_BY(mu_) = true;
};

}  // namespace switchboard::bridge

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_BRIDGE_METRICS_H_
