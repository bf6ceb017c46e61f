#ifndef SWITCHBOARD_SERVICES_BROADCASTER_BROADCASTER_METRICS_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_BROADCASTER_METRICS_H_

#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace switchboard::broadcaster {

class BroadcasterService;

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
  const BroadcasterService* const service_;
  const uint32_t max_label_values_;
};

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_BROADCASTER_METRICS_H_
