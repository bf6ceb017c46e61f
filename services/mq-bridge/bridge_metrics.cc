#include "services/mq-bridge/bridge_metrics.h"

#include <array>
#include <map>
#include <string>
#include <utility>

namespace switchboard::bridge {

ProduceCounters::ProduceCounters() : publish_latency(LatencyBuckets()) {}

void ProduceCounters::Published(uint64_t events, uint64_t refused_copies,
                                bool ok, absl::Duration elapsed) {
  // A batch that only declared queues published nothing.
  if (events > 0) publish_latency.Observe(absl::ToDoubleSeconds(elapsed));
  if (ok) {
    confirmed += events;
    refused += refused_copies;
  } else {
    ++failed_batches;
  }
}

BridgeMetrics::BridgeMetrics(Sources sources, uint32_t max_label_values,
                             absl::Duration queue_stats_interval)
    : sources_(std::move(sources)),
      max_label_values_(max_label_values),
      queue_stats_interval_(queue_stats_interval),
      counter_labels_(max_label_values) {}

namespace {

// Appends `family` with one sample, `value`.
void AddOne(std::vector<prometheus::MetricFamily>& out,
            prometheus::MetricFamily family, double value) {
  AddSample(family, value);
  out.push_back(std::move(family));
}

}  // namespace

std::vector<prometheus::MetricFamily> BridgeMetrics::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  std::shared_ptr<Transport> transport = sources_.transport();
  CollectProduce(*transport, out);
  CollectQueues(*transport, out);
  return out;
}

// Produce streams and the transport's health.
void BridgeMetrics::CollectProduce(
    const Transport& transport,
    std::vector<prometheus::MetricFamily>& out) const {
  const ProduceCounters& produce = *sources_.produce;
  AddOne(out,
         CounterFamily("switchboard_bridge_events_produced_total",
                       "Events handed to the transport by Produce streams."),
         produce.produced.load());
  AddOne(
      out,
      CounterFamily("switchboard_bridge_events_confirmed_total",
                    "Events of batches the transport confirmed (each held in "
                    "every queue named, its refused copies aside)."),
      produce.confirmed.load());
  AddOne(out,
         CounterFamily("switchboard_bridge_copies_refused_total",
                       "Event copies refused: by a queue (its reject-publish "
                       "limit), for a queue that cannot be used (a conflicting "
                       "declaration), or naming no queue."),
         produce.refused.load());
  AddOne(out,
         CounterFamily("switchboard_bridge_batches_failed_total",
                       "Batches the transport failed (the producer sends them "
                       "again)."),
         produce.failed_batches.load());
  out.push_back(prometheus::MetricFamily{
      "switchboard_bridge_publish_latency_seconds",
      "Seconds from handing a batch to the transport to its answer (the "
      "broker's confirm on rabbitmq).",
      prometheus::MetricType::Histogram,
      {produce.publish_latency.Collect()}});
  out.push_back(GaugeFamily("switchboard_bridge_transport_up",
                            "1 while the transport answers (the bridge's "
                            "health), by driver."));
  AddSample(out.back(), sources_.transport_up() ? 1 : 0,
            {{"driver", std::string(transport.driver())}});
  AddOne(out,
         CounterFamily("switchboard_bridge_transport_recoveries_total",
                       "Times the transport answered again after failing "
                       "(reconnects that the bridge noticed)."),
         sources_.transport_recoveries());
}

// Per queue (labels capped at max_label_values_), from the transport's
// stats at most every queue_stats_interval_.
void BridgeMetrics::CollectQueues(
    Transport& transport, std::vector<prometheus::MetricFamily>& out) const {
  std::vector<RankedSample> depth, unacked, subscribers;
  std::map<std::string, Counts> totals;
  bool drop_counters = true;
  bool stats_ok = false;
  size_t queue_count = 0;
  {
    absl::MutexLock lock(&mu_);
    Refresh(transport);
    AddOne(out,
           GaugeFamily("switchboard_bridge_queue_stats_up",
                       "1 when the transport answered the last look-up of its "
                       "queues (the per-queue gauges are missing otherwise)."),
           queues_.ok() ? 1 : 0);
    stats_ok = queues_.ok();
    if (stats_ok) {
      queue_count = queues_->size();
      for (const QueueStats& q : *queues_) {
        const double rank = static_cast<double>(q.depth + q.unacked);
        depth.push_back({q.name, static_cast<double>(q.depth), rank});
        unacked.push_back({q.name, static_cast<double>(q.unacked), rank});
        subscribers.push_back({q.name, static_cast<double>(q.consumers), rank});
      }
    }
    totals = totals_;
    drop_counters = drop_counters_;
  }
  if (stats_ok) {
    AddOne(
        out,
        GaugeFamily("switchboard_bridge_queues", "Queues the transport holds."),
        queue_count);
    out.push_back(GaugeFamily("switchboard_bridge_queue_depth",
                              "Messages ready in the queue."));
    AddCappedGauges(out.back(), "queue", std::move(depth), max_label_values_);
    out.push_back(GaugeFamily("switchboard_bridge_queue_unacked",
                              "Messages delivered and not yet acked."));
    AddCappedGauges(out.back(), "queue", std::move(unacked), max_label_values_);
    out.push_back(GaugeFamily("switchboard_bridge_queue_subscribers",
                              "Subscriptions reading the queue."));
    AddCappedGauges(out.back(), "queue", std::move(subscribers),
                    max_label_values_);
  }
  struct Column {
    const char* name;
    const char* help;
    bool drop_counter;
  };
  const Column columns[4] = {
      {"switchboard_bridge_queue_dropped_total",
       "Messages dropped from the head to make room (drop-head).", true},
      {"switchboard_bridge_queue_rejected_total",
       "Messages refused at publish (reject-publish).", false},
      {"switchboard_bridge_queue_expired_total",
       "Messages dropped because their message_ttl passed.", true},
      {"switchboard_bridge_queue_dead_lettered_total",
       "Messages moved to dead.<queue>.", true}};
  for (int i = 0; i < 4; ++i) {
    if (columns[i].drop_counter && !drop_counters) continue;
    out.push_back(CounterFamily(columns[i].name, columns[i].help));
    for (const auto& [queue, c] : totals) {
      AddSample(out.back(), static_cast<double>(c[i]), {{"queue", queue}});
    }
  }
}

void BridgeMetrics::Refresh(Transport& transport) const {
  const absl::Time now = absl::Now();
  if (now - refreshed_ < queue_stats_interval_) return;
  refreshed_ = now;
  drop_counters_ = transport.capabilities().drop_counters;
  queues_ = transport.GetQueueStats({});
  if (!queues_.ok()) return;
  std::map<std::string, Counts> seen;
  for (const QueueStats& q : *queues_) {
    const Counts raw = {q.dropped, q.rejected, q.expired, q.dead_lettered};
    auto last = last_.find(q.name);
    Counts& total = totals_[counter_labels_.LabelFor(q.name)];
    for (int i = 0; i < 4; ++i) {
      const uint64_t before = last == last_.end() ? 0 : last->second[i];
      // Lower than before: a new queue (or transport) under the old name.
      total[i] += raw[i] >= before ? raw[i] - before : raw[i];
    }
    seen.emplace(q.name, raw);
  }
  last_ = std::move(seen);
}

}  // namespace switchboard::bridge
