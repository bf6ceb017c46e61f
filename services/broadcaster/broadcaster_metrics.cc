#include "services/broadcaster/broadcaster_metrics.h"

#include <string>
#include <utility>

#include "services/broadcaster/broadcaster_service.h"
#include "services/common/metrics/metrics.h"

namespace switchboard::broadcaster {

void RegionCommandCounts::Add(
    const std::map<std::string, uint64_t>& by_region) {
  absl::MutexLock lock(&mu_);
  for (const auto& [region, n] : by_region)
    counts_[labels_.LabelFor(region)] += n;
}

std::map<std::string, uint64_t> RegionCommandCounts::Read() const {
  absl::MutexLock lock(&mu_);
  return counts_;
}

void RegionCommandCounts::set_max_label_values(uint32_t max) {
  absl::MutexLock lock(&mu_);
  labels_.set_max(max);
}

namespace {

// Appends one family with one sample.
class Families {
 public:
  explicit Families(std::vector<prometheus::MetricFamily>& out) : out_(out) {}
  void Counter(const char* name, const char* help, double value) {
    out_.push_back(CounterFamily(name, help));
    AddSample(out_.back(), value);
  }
  void Gauge(const char* name, const char* help, double value) {
    out_.push_back(GaugeFamily(name, help));
    AddSample(out_.back(), value);
  }

 private:
  std::vector<prometheus::MetricFamily>& out_;
};

}  // namespace

std::vector<prometheus::MetricFamily> BroadcasterMetrics::Collect() const {
  const switchboard::v1::BroadcasterStats stats = service_->Stats();
  std::vector<prometheus::MetricFamily> out;
  CollectAcceptance(stats, out);
  CollectForwarding(stats, out);
  CollectRegions(out);
  return out;
}

// Accepted, refused, filtered, dropped; the buffer.
void BroadcasterMetrics::CollectAcceptance(
    const switchboard::v1::BroadcasterStats& stats,
    std::vector<prometheus::MetricFamily>& out) const {
  Families families(out);
  families.Counter(
      "switchboard_broadcaster_events_accepted_total",
      "Events accepted from producers (buffered, filtered or absorbed).",
      stats.accepted());
  out.push_back(CounterFamily(
      "switchboard_broadcaster_events_rejected_total",
      "Events refused to their producer, by reason: invalid (a field, a "
      "permission, or a queue too many), buffer_full, queue_cap."));
  AddSample(out.back(), stats.rejected_invalid(), {{"reason", "invalid"}});
  AddSample(out.back(), stats.rejected_full(), {{"reason", "buffer_full"}});
  AddSample(out.back(), stats.rejected_queue_cap(), {{"reason", "queue_cap"}});
  families.Counter("switchboard_broadcaster_events_filtered_total",
                   "Accepted events the filters routed to no queue.",
                   stats.filtered());
  const EventBuffer::Stats buffer = service_->buffer_.stats();
  out.push_back(CounterFamily(
      "switchboard_broadcaster_events_dropped_total",
      "Accepted events dropped, by reason: buffer_overflow (buffer.overflow "
      "drop_oldest made room), bridge_refused (the bridge refused them for "
      "good)."));
  AddSample(out.back(), buffer.dropped - buffer.discarded,
            {{"reason", "buffer_overflow"}});
  AddSample(out.back(), buffer.discarded, {{"reason", "bridge_refused"}});
  families.Counter(
      "switchboard_broadcaster_copies_refused_total",
      "Event copies a queue refused at the bridge (its reject-publish "
      "limit); the event's other copies went on.",
      stats.queue_refused());
  families.Gauge("switchboard_broadcaster_buffer_events",
                 "Events in the buffer (waiting or in flight to the bridge).",
                 stats.buffered());
  families.Gauge("switchboard_broadcaster_buffer_bytes", "Bytes in the buffer.",
                 stats.buffered_bytes());
  families.Gauge("switchboard_broadcaster_buffer_limit_events",
                 "The buffer's buffer.max_events.",
                 stats.buffer_limit_events());
  families.Gauge("switchboard_broadcaster_buffer_limit_bytes",
                 "The buffer's buffer.max_bytes.", stats.buffer_limit_bytes());
}

// The bridge stream, forwarding and confirmations, commands, settings.
void BroadcasterMetrics::CollectForwarding(
    const switchboard::v1::BroadcasterStats& stats,
    std::vector<prometheus::MetricFamily>& out) const {
  Families families(out);
  families.Gauge("switchboard_broadcaster_bridge_connected",
                 "1 while a stream to the bridge is open.",
                 stats.bridge_connected());
  families.Counter(
      "switchboard_broadcaster_bridge_connects_total",
      "Streams opened to the bridge (the first, then each reconnect).",
      stats.bridge_connects());
  families.Counter("switchboard_broadcaster_events_forwarded_total",
                   "Events the bridge took.", stats.forwarded());
  families.Counter("switchboard_broadcaster_batches_forwarded_total",
                   "Batches the bridge took.",
                   service_->forwarder_.stats().batches);
  {
    out.push_back(prometheus::MetricFamily{
        "switchboard_broadcaster_forward_latency_seconds",
        "Seconds from a batch's write to the bridge's answer.",
        prometheus::MetricType::Histogram,
        {service_->forwarder_.answer_latency().Collect()}});
  }
  families.Counter(
      "switchboard_broadcaster_events_confirmed_total",
      "Events of CONFIRMED publishers whose every copy the transport "
      "confirmed.",
      stats.confirmed());
  families.Counter("switchboard_broadcaster_link_events_total",
                   "Link status events accepted.", stats.link_events());
  families.Counter("switchboard_broadcaster_commands_routed_total",
                   "Commands routed to a region's queue.",
                   stats.commands_routed());
  out.push_back(
      CounterFamily("switchboard_broadcaster_region_commands_routed_total",
                    "Command copies routed to the region's queue."));
  for (const auto& [region, n] : service_->region_commands_.Read()) {
    AddSample(out.back(), n, {{"region", region}});
  }
  families.Counter(
      "switchboard_broadcaster_commands_unroutable_total",
      "Commands no region could take (kept in the unroutable queue).",
      stats.commands_unroutable());
  families.Counter(
      "switchboard_broadcaster_region_events_dropped_total",
      "Switch events of a region that is not the switch's active one.",
      stats.region_events_dropped());
  families.Gauge("switchboard_broadcaster_settings_generation",
                 "Settings generation: 1 at start, +1 per successful reload.",
                 stats.settings_generation());
}

// Per region, the label capped at max_label_values_.
void BroadcasterMetrics::CollectRegions(
    std::vector<prometheus::MetricFamily>& out) const {
  std::vector<RankedSample> up, switches, active;
  for (const switchboard::v1::RegionState& r :
       service_->tracker_.ListRegions()) {
    // Regions holding the most switches keep their own label.
    const double rank = r.switches();
    up.push_back({r.name(), r.alive() ? 1.0 : 0.0, rank});
    switches.push_back({r.name(), static_cast<double>(r.switches()), rank});
    active.push_back(
        {r.name(), static_cast<double>(r.active_switches()), rank});
  }
  out.push_back(GaugeFamily(
      "switchboard_broadcaster_region_up",
      "1 while the region is alive (heard within regions.alive_timeout); "
      "for the `other` label, how many of the rest are."));
  AddCappedGauges(out.back(), "region", std::move(up), max_label_values_);
  out.push_back(GaugeFamily("switchboard_broadcaster_region_switches",
                            "Switches the region holds, in any mode."));
  AddCappedGauges(out.back(), "region", std::move(switches), max_label_values_);
  out.push_back(GaugeFamily("switchboard_broadcaster_region_active_switches",
                            "Switches the region is the active region of."));
  AddCappedGauges(out.back(), "region", std::move(active), max_label_values_);
}

}  // namespace switchboard::broadcaster
