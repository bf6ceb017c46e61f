#ifndef SWITCHBOARD_SERVICES_BROADCASTER_BROADCASTER_METRICS_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_BROADCASTER_METRICS_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "services/common/metrics/metrics.h"
#include "switchboard/v1/broadcaster.pb.h"

namespace switchboard::broadcaster {

class BroadcasterService;

// Commands routed to each region's queue, the region label capped (the
// first regions seen keep theirs). Thread-safe.
class RegionCommandCounts {
 public:
  void Add(const std::map<std::string, uint64_t>& by_region);
  std::map<std::string, uint64_t> Read() const;
  // metrics.max_label_values, once known.
  void set_max_label_values(uint32_t max);

 private:
  mutable absl::Mutex mu_;
  CounterLabelCap labels_ ABSL_GUARDED_BY(mu_){100};
  std::map<std::string, uint64_t> counts_ ABSL_GUARDED_BY(mu_);
};

// The broadcaster's metrics (README "Metrics"), read at scrape time from
// the counters it keeps anyway (GetStats), its buffer, forwarder and region
// tracker. The service owns it; the /metrics listener is stopped before the
// service goes.
class BroadcasterMetrics final : public prometheus::Collectable {
 public:
  // `max_label_values` caps the region label.
  BroadcasterMetrics(const BroadcasterService* service,
                     uint32_t max_label_values)
      : service_(service), max_label_values_(max_label_values) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  void CollectAcceptance(const switchboard::v1::BroadcasterStats& stats,
                         std::vector<prometheus::MetricFamily>& out) const;
  void CollectForwarding(const switchboard::v1::BroadcasterStats& stats,
                         std::vector<prometheus::MetricFamily>& out) const;
  void CollectRegions(std::vector<prometheus::MetricFamily>& out) const;

  const BroadcasterService* const service_;
  const uint32_t max_label_values_;
};

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_BROADCASTER_METRICS_H_
