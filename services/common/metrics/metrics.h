#ifndef SWITCHBOARD_SERVICES_COMMON_METRICS_METRICS_H_
#define SWITCHBOARD_SERVICES_COMMON_METRICS_METRICS_H_

// Prometheus metrics of a switchboard service (README "Metrics"), served by
// prometheus-cpp's Exposer on /metrics.
//
// Conventions: every name starts with `switchboard_` (the process_* metrics
// excepted, named as the standard Prometheus clients name them), is
// snake_case, counters end in `_total`, units are seconds and bytes. Label
// values are bounded: queue and region names are capped (`max_label_values`
// of them, the rest summed under "other"); event ids and sources are never
// labels.
//
// Services keep their hot paths as they are: most metrics are read at
// scrape time from the counters the services already keep (collectors), and
// histograms are observed once per batch or response.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/collectable.h"
#include "prometheus/histogram.h"
#include "prometheus/metric_family.h"
#include "services/common/config.h"

namespace prometheus {
class Exposer;
}  // namespace prometheus

namespace switchboard {

// The `metrics` section every service's config shares. Takes a restart (a
// reload checks it and keeps the running one).
struct MetricsSettings {
  // host:port of the HTTP listener serving /metrics; "" turns it off (the
  // default). Port 0: any free port (logged, and written to
  // --metrics_port_file).
  std::string listen;
  // Distinct queue (and region) label values per metric; the rest are
  // summed under "other".
  uint32_t max_label_values = 100;

  bool enabled() const { return !listen.empty(); }
  // Errors name the field (metrics.listen, ...).
  static absl::StatusOr<MetricsSettings> Parse(const ConfigNode& root);
};

// The value every capped label gets beyond the cap.
inline constexpr char kOtherLabel[] = "other";

// Building metric families in a collector.
prometheus::MetricFamily CounterFamily(std::string name, std::string help);
prometheus::MetricFamily GaugeFamily(std::string name, std::string help);
// Adds one sample (a counter's or a gauge's value, by the family's type).
void AddSample(prometheus::MetricFamily& family, double value,
               const std::map<std::string, std::string>& labels = {});

// Per-label-value samples capped to `max` label values: the `max` largest
// (by `rank`) keep their own label, the others are summed into one sample
// labelled kOtherLabel. For gauges, whose "other" may come and go.
struct RankedSample {
  std::string label_value;
  double value = 0;
  double rank = 0;
};
void AddCappedGauges(prometheus::MetricFamily& family,
                     const std::string& label_name,
                     std::vector<RankedSample> samples, uint32_t max);

// Label values for counters, capped: the first `max` distinct values seen
// keep their own label for the life of the process, later ones share
// kOtherLabel, so every series stays monotonic. Not thread-safe: callers
// hold the lock of the counters it labels.
class CounterLabelCap {
 public:
  explicit CounterLabelCap(uint32_t max) : max_(max) {}
  const std::string& LabelFor(const std::string& value);
  // Values seen from now on; those with a label keep it.
  void set_max(uint32_t max) { max_ = max; }

 private:
  uint32_t max_;
  std::map<std::string, std::string> labels_;
  std::string other_ = kOtherLabel;
};

// Histogram bucket bounds in seconds from 100 µs to 60 s, for latencies.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets();

// Observations of one batch counted locally, then added to a histogram
// with one locked call (prometheus::Histogram::ObserveMultiple).
class HistogramBatch {
 public:
  explicit HistogramBatch(const prometheus::Histogram::BucketBoundaries& b);
  void Observe(double value);
  // Adds what was observed to `histogram` (made with the same bounds), and
  // starts again.
  void FlushTo(prometheus::Histogram& histogram);

 private:
  const prometheus::Histogram::BucketBoundaries& bounds_;
  std::vector<double> increments_;
  double sum_ = 0;
  bool empty_ = true;
};

// The standard process metrics of the Prometheus clients (Go's, Python's),
// read from /proc at scrape time: process_cpu_seconds_total,
// process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds, process_start_time_seconds, and
// process_threads.
class ProcessCollector final : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

// The /metrics HTTP listener. Collectables are held weakly: one whose owner
// is gone is skipped.
class MetricsServer {
 public:
  // UNAVAILABLE naming metrics.listen when it cannot bind.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const MetricsSettings& settings);
  ~MetricsServer();

  void Register(const std::weak_ptr<prometheus::Collectable>& collectable);
  // The bound port.
  int port() const { return port_; }

 private:
  MetricsServer(std::unique_ptr<prometheus::Exposer> exposer, int port);

  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<ProcessCollector> process_;
  int port_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_COMMON_METRICS_METRICS_H_
