#ifndef SWITCHBOARD_SERVICES_CONSUMER_CONSUMER_METRICS_H_
#define SWITCHBOARD_SERVICES_CONSUMER_CONSUMER_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "prometheus/collectable.h"
#include "prometheus/histogram.h"
#include "services/common/metrics/metrics.h"

namespace switchboard::consumer {

// What app subscriptions did with one queue (or with the queues past the
// label cap, together). Lock-free.
struct QueueCounters {
  std::atomic<uint64_t> deliveries{0};
  std::atomic<uint64_t> redeliveries{0};
  std::atomic<uint64_t> duplicates{0};
  std::atomic<uint64_t> acks{0};
  std::atomic<uint64_t> nacks{0};
  // Deliveries that were not a valid switchboard.v1.Event (an outside
  // publisher's): never shown to apps, rejected to the dead-letter queue.
  std::atomic<uint64_t> malformed{0};
};

// The consumer's per-queue counters and its end-to-end latency histogram.
// Thread-safe; a QueueCounters pointer stays valid for the life of this
// object, so deliveries may carry it until they are settled.
class ConsumerCounters {
 public:
  // `max_label_values`: queues with their own counters (the first seen);
  // the others share the "other" ones.
  explicit ConsumerCounters(uint32_t max_label_values = 100);

  QueueCounters* For(const std::string& queue);
  // metrics.max_label_values, once known.
  void set_max_label_values(uint32_t max) {
    absl::MutexLock lock(&mu_);
    labels_.set_max(max);
  }
  // Seconds from events' `time` to their delivery to an app, observed per
  // response.
  prometheus::Histogram& latency() { return latency_; }

  // Copies of every label's counters.
  struct Snapshot {
    std::string queue;
    uint64_t deliveries, redeliveries, duplicates, acks, nacks, malformed;
  };
  std::vector<Snapshot> Read() const;
  prometheus::ClientMetric LatencyMetric() const { return latency_.Collect(); }

 private:
  mutable absl::Mutex mu_;
  CounterLabelCap labels_ ABSL_GUARDED_BY(mu_);
  // Node-based: pointers stay valid.
  std::map<std::string, std::unique_ptr<QueueCounters>> queues_
      ABSL_GUARDED_BY(mu_);
  prometheus::Histogram latency_;
};

// The consumer's metrics (README "Metrics"), read at scrape time.
class ConsumerMetrics final : public prometheus::Collectable {
 public:
  struct Sources {
    const ConsumerCounters* counters;
    std::function<size_t()> subscriptions;
    // Links in the link view (0 without one).
    std::function<size_t()> links;
  };
  explicit ConsumerMetrics(Sources sources) : sources_(std::move(sources)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const Sources sources_;
};

}  // namespace switchboard::consumer

#endif  // SWITCHBOARD_SERVICES_CONSUMER_CONSUMER_METRICS_H_
