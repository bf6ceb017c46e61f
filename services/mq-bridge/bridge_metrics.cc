#include "services/mq-bridge/bridge_metrics.h"

#include <array>
#include <map>
#include <string>
#include <utility>

namespace switchboard::bridge {

ProduceCounters::ProduceCounters() : publish_latency(LatencyBuckets()) {}

void ProduceCounters::Published(uint64_t events, uint64_t refused_copies,
                                bool ok, absl::Duration elapsed) {
  publish_latency.Observe(absl::ToDoubleSeconds(elapsed));
  if (ok) {
    confirmed += events;
    refused += refused_copies;
  } else {
    ++failed_batches;
  }
}

BridgeMetrics::BridgeMetrics(Sources sources, uint32_t max_label_values)
    : sources_(std::move(sources)),
      max_label_values_(max_label_values),
      counter_labels_(max_label_values) {}

std::vector<prometheus::MetricFamily> BridgeMetrics::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  auto one = [&out](prometheus::MetricFamily family, double value) {
    AddSample(family, value);
    out.push_back(std::move(family));
  };
  const ProduceCounters& produce = *sources_.produce;
  one(CounterFamily("switchboard_bridge_events_produced_total",
                    "Events handed to the transport by Produce streams."),
      produce.produced.load());
  one(CounterFamily("switchboard_bridge_events_confirmed_total",
                    "Events the transport confirmed (held in every queue "
                    "named, the refused copies aside)."),
      produce.confirmed.load());
  one(CounterFamily("switchboard_bridge_copies_refused_total",
                    "Event copies a queue refused (its reject-publish limit, "
                    "or a conflicting declaration)."),
      produce.refused.load());
  one(CounterFamily("switchboard_bridge_batches_failed_total",
                    "Batches the transport failed (the producer sends them "
                    "again)."),
      produce.failed_batches.load());
  out.push_back(prometheus::MetricFamily{
      "switchboard_bridge_publish_latency_seconds",
      "Seconds from handing a batch to the transport to its answer (the "
      "broker's confirm on rabbitmq).",
      prometheus::MetricType::Histogram,
      {produce.publish_latency.Collect()}});
  std::shared_ptr<Transport> transport = sources_.transport();
  out.push_back(GaugeFamily("switchboard_bridge_transport_up",
                            "1 while the transport answers (the bridge's "
                            "health), by driver."));
  AddSample(out.back(), sources_.transport_up() ? 1 : 0,
            {{"driver", std::string(transport->driver())}});
  one(CounterFamily("switchboard_bridge_transport_recoveries_total",
                    "Times the transport answered again after failing "
                    "(reconnects that the bridge noticed)."),
      sources_.transport_recoveries());

  absl::StatusOr<std::vector<QueueStats>> queues = transport->GetQueueStats({});
  one(GaugeFamily("switchboard_bridge_queue_stats_up",
                  "1 when the transport answered for its queues at this "
                  "scrape (the per-queue metrics are missing otherwise)."),
      queues.ok() ? 1 : 0);
  if (!queues.ok()) return out;
  one(GaugeFamily("switchboard_bridge_queues", "Queues the transport holds."),
      queues->size());
  std::vector<RankedSample> depth, unacked, subscribers;
  std::map<std::string, std::array<double, 4>> counters;
  {
    absl::MutexLock lock(&mu_);
    for (const QueueStats& q : *queues) {
      const double rank = static_cast<double>(q.depth + q.unacked);
      depth.push_back({q.name, static_cast<double>(q.depth), rank});
      unacked.push_back({q.name, static_cast<double>(q.unacked), rank});
      subscribers.push_back({q.name, static_cast<double>(q.consumers), rank});
      auto& c = counters[counter_labels_.LabelFor(q.name)];
      c[0] += q.dropped;
      c[1] += q.rejected;
      c[2] += q.expired;
      c[3] += q.dead_lettered;
    }
  }
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
  const char* const names[4][2] = {
      {"switchboard_bridge_queue_dropped_total",
       "Messages dropped from the head to make room (drop-head)."},
      {"switchboard_bridge_queue_rejected_total",
       "Messages refused at publish (reject-publish)."},
      {"switchboard_bridge_queue_expired_total",
       "Messages dropped because their message_ttl passed."},
      {"switchboard_bridge_queue_dead_lettered_total",
       "Messages moved to dead.<queue>."}};
  // A queue that expired (or a broker restart) takes its counts with it:
  // these are the transport's counters, as RabbitMQ's own metrics are.
  for (int i = 0; i < 4; ++i) {
    out.push_back(CounterFamily(names[i][0], names[i][1]));
    for (const auto& [queue, c] : counters) {
      AddSample(out.back(), c[i], {{"queue", queue}});
    }
  }
  return out;
}

}  // namespace switchboard::bridge
