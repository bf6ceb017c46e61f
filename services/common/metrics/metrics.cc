#include "services/common/metrics/metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "prometheus/exposer.h"
#include "services/common/status_macros.h"

namespace switchboard {
namespace {

// host:port, [v6]:port; port 0..65535.
absl::Status CheckListen(const ConfigNode& node, const std::string& listen) {
  const size_t colon = listen.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(listen.substr(colon + 1), &port) || port > 65535) {
    return node.Error("listen",
                      absl::StrCat("expected host:port (e.g. 0.0.0.0:9090, "
                                   "[::]:9090, 127.0.0.1:0), got '",
                                   listen, "'"));
  }
  return absl::OkStatus();
}

prometheus::MetricFamily Family(std::string name, std::string help,
                                prometheus::MetricType type) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

}  // namespace

absl::StatusOr<MetricsSettings> MetricsSettings::Parse(const ConfigNode& root) {
  MetricsSettings s;
  SB_ASSIGN_OR_RETURN(ConfigNode node, root.Child("metrics"));
  SB_RETURN_IF_ERROR(node.Get("listen", &s.listen));
  SB_RETURN_IF_ERROR(node.Get("max_label_values", &s.max_label_values));
  SB_RETURN_IF_ERROR(node.CheckAllKeysKnown());
  if (!s.listen.empty()) SB_RETURN_IF_ERROR(CheckListen(node, s.listen));
  if (s.max_label_values < 1 || s.max_label_values > 10000) {
    return node.Error("max_label_values", "must be 1 to 10000");
  }
  return s;
}

prometheus::MetricFamily CounterFamily(std::string name, std::string help) {
  return Family(std::move(name), std::move(help),
                prometheus::MetricType::Counter);
}

prometheus::MetricFamily GaugeFamily(std::string name, std::string help) {
  return Family(std::move(name), std::move(help),
                prometheus::MetricType::Gauge);
}

void AddSample(prometheus::MetricFamily& family, double value,
               const std::map<std::string, std::string>& labels) {
  prometheus::ClientMetric metric;
  for (const auto& [name, label] : labels) metric.label.push_back({name, label});
  if (family.type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
}

void AddCappedGauges(prometheus::MetricFamily& family,
                     const std::string& label_name,
                     std::vector<RankedSample> samples, uint32_t max) {
  std::sort(samples.begin(), samples.end(),
            [](const RankedSample& a, const RankedSample& b) {
              if (a.rank != b.rank) return a.rank > b.rank;
              return a.label_value < b.label_value;
            });
  double other = 0;
  bool any_other = false;
  for (size_t i = 0; i < samples.size(); ++i) {
    if (i < max && samples[i].label_value != kOtherLabel) {
      AddSample(family, samples[i].value, {{label_name, samples[i].label_value}});
    } else {
      other += samples[i].value;
      any_other = true;
    }
  }
  if (any_other) AddSample(family, other, {{label_name, kOtherLabel}});
}

const std::string& CounterLabelCap::LabelFor(const std::string& value) {
  auto it = labels_.find(value);
  if (it != labels_.end()) return it->second;
  if (labels_.size() >= max_ || value == kOtherLabel) return other_;
  return labels_.emplace(value, value).first->second;
}

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10,
      30,     60};
  return *buckets;
}

HistogramBatch::HistogramBatch(
    const prometheus::Histogram::BucketBoundaries& bounds)
    : bounds_(bounds), increments_(bounds.size() + 1, 0.0) {}

void HistogramBatch::Observe(double value) {
  const size_t bucket =
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  increments_[bucket] += 1;
  sum_ += value;
  empty_ = false;
}

void HistogramBatch::FlushTo(prometheus::Histogram& histogram) {
  if (empty_) return;
  histogram.ObserveMultiple(increments_, sum_);
  std::fill(increments_.begin(), increments_.end(), 0.0);
  sum_ = 0;
  empty_ = true;
}

// ---- ProcessCollector ----

namespace {

struct ProcStat {
  double cpu_seconds = 0;
  double start_time_seconds = 0;
  double virtual_bytes = 0;
  double resident_bytes = 0;
  double threads = 0;
};

// /proc/stat's btime: the boot time, seconds since the epoch.
double BootTime() {
  std::ifstream in("/proc/stat");
  std::string line;
  while (std::getline(in, line)) {
    double btime = 0;
    if (absl::StartsWith(line, "btime ") &&
        absl::SimpleAtod(line.substr(6), &btime)) {
      return btime;
    }
  }
  return 0;
}

bool ReadProcStat(ProcStat* out) {
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  // The command name may hold spaces and parentheses: fields start after
  // the last ')'. Then field 3 (state) is index 0.
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return false;
  std::vector<std::string> f =
      absl::StrSplit(text.substr(close + 2), ' ', absl::SkipEmpty());
  // utime 14, stime 15, num_threads 20, starttime 22, vsize 23, rss 24.
  if (f.size() < 22) return false;
  const double ticks = sysconf(_SC_CLK_TCK);
  const double page = sysconf(_SC_PAGESIZE);
  double utime = 0, stime = 0, threads = 0, start = 0, vsize = 0, rss = 0;
  if (!absl::SimpleAtod(f[11], &utime) || !absl::SimpleAtod(f[12], &stime) ||
      !absl::SimpleAtod(f[17], &threads) || !absl::SimpleAtod(f[19], &start) ||
      !absl::SimpleAtod(f[20], &vsize) || !absl::SimpleAtod(f[21], &rss)) {
    return false;
  }
  out->cpu_seconds = (utime + stime) / ticks;
  out->threads = threads;
  out->start_time_seconds = BootTime() + start / ticks;
  out->virtual_bytes = vsize;
  out->resident_bytes = rss * page;
  return true;
}

double OpenFds() {
  std::error_code ec;
  double n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

}  // namespace

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  ProcStat stat;
  if (ReadProcStat(&stat)) {
    out.push_back(CounterFamily("process_cpu_seconds_total",
                                "Total user and system CPU time spent in "
                                "seconds."));
    AddSample(out.back(), stat.cpu_seconds);
    out.push_back(GaugeFamily("process_resident_memory_bytes",
                              "Resident memory size in bytes."));
    AddSample(out.back(), stat.resident_bytes);
    out.push_back(GaugeFamily("process_virtual_memory_bytes",
                              "Virtual memory size in bytes."));
    AddSample(out.back(), stat.virtual_bytes);
    out.push_back(GaugeFamily(
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds."));
    AddSample(out.back(), stat.start_time_seconds);
    out.push_back(GaugeFamily("process_threads", "Number of OS threads."));
    AddSample(out.back(), stat.threads);
  }
  out.push_back(
      GaugeFamily("process_open_fds", "Number of open file descriptors."));
  AddSample(out.back(), OpenFds());
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    out.push_back(GaugeFamily("process_max_fds",
                              "Maximum number of open file descriptors."));
    AddSample(out.back(), static_cast<double>(limit.rlim_cur));
  }
  return out;
}

// ---- MetricsServer ----

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const MetricsSettings& settings) {
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    // Two worker threads: scrapes are rare.
    exposer = std::make_unique<prometheus::Exposer>(settings.listen, 2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat(
        "metrics.listen: cannot serve /metrics on ", settings.listen, ": ",
        e.what()));
  }
  const std::vector<int> ports = exposer->GetListeningPorts();
  if (ports.empty()) {
    return absl::UnavailableError(
        absl::StrCat("metrics.listen: no port bound for ", settings.listen));
  }
  return std::unique_ptr<MetricsServer>(
      new MetricsServer(std::move(exposer), ports.front()));
}

MetricsServer::MetricsServer(std::unique_ptr<prometheus::Exposer> exposer,
                             int port)
    : exposer_(std::move(exposer)),
      process_(std::make_shared<ProcessCollector>()),
      port_(port) {
  exposer_->RegisterCollectable(process_);
}

MetricsServer::~MetricsServer() = default;

void MetricsServer::Register(
    const std::weak_ptr<prometheus::Collectable>& collectable) {
  exposer_->RegisterCollectable(collectable);
}

}  // namespace switchboard
