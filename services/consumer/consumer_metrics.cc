#include "services/consumer/consumer_metrics.h"

#include <utility>

namespace switchboard::consumer {

ConsumerCounters::ConsumerCounters(uint32_t max_label_values)
    : labels_(max_label_values), latency_(LatencyBuckets()) {}

QueueCounters* ConsumerCounters::For(const std::string& queue) {
  absl::MutexLock lock(&mu_);
  std::unique_ptr<QueueCounters>& slot = queues_[labels_.LabelFor(queue)];
  if (slot == nullptr) slot = std::make_unique<QueueCounters>();
  return slot.get();
}

std::vector<ConsumerCounters::Snapshot> ConsumerCounters::Read() const {
  absl::MutexLock lock(&mu_);
  std::vector<Snapshot> out;
  out.reserve(queues_.size());
  for (const auto& [queue, c] : queues_) {
    out.push_back(Snapshot{queue, c->deliveries.load(), c->redeliveries.load(),
                           c->duplicates.load(), c->acks.load(),
                           c->nacks.load(), c->malformed.load()});
  }
  return out;
}

std::vector<prometheus::MetricFamily> ConsumerMetrics::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  const std::vector<ConsumerCounters::Snapshot> queues =
      sources_.counters->Read();
  struct Column {
    const char* name;
    const char* help;
    uint64_t ConsumerCounters::Snapshot::*field;
  };
  const Column columns[] = {
      {"switchboard_consumer_deliveries_total",
       "Deliveries handed to apps (redeliveries included).",
       &ConsumerCounters::Snapshot::deliveries},
      {"switchboard_consumer_redeliveries_total",
       "Deliveries of events delivered before (delivery_count > 1).",
       &ConsumerCounters::Snapshot::redeliveries},
      {"switchboard_consumer_duplicates_dropped_total",
       "Copies of events already acked that the duplicate filter dropped.",
       &ConsumerCounters::Snapshot::duplicates},
      {"switchboard_consumer_acks_total", "Deliveries apps acked.",
       &ConsumerCounters::Snapshot::acks},
      {"switchboard_consumer_nacks_total", "Deliveries apps nacked.",
       &ConsumerCounters::Snapshot::nacks},
      {"switchboard_consumer_malformed_total",
       "Deliveries that were not a valid switchboard.v1.Event (put in the "
       "queue by an outside publisher): rejected to the queue's dead-letter "
       "queue, never shown to apps.",
       &ConsumerCounters::Snapshot::malformed},
  };
  for (const Column& column : columns) {
    out.push_back(CounterFamily(column.name, column.help));
    for (const auto& q : queues) {
      AddSample(out.back(), static_cast<double>(q.*column.field),
                {{"queue", q.queue}});
    }
  }
  out.push_back(GaugeFamily("switchboard_consumer_subscriptions",
                            "Open app subscriptions (Subscribe streams with "
                            "their bridge call)."));
  AddSample(out.back(), sources_.subscriptions());
  out.push_back(GaugeFamily("switchboard_consumer_link_view_links",
                            "Links in the link view."));
  AddSample(out.back(), sources_.links());
  out.push_back(prometheus::MetricFamily{
      "switchboard_consumer_end_to_end_latency_seconds",
      "Seconds from an event's time (set by its producer, or stamped by the "
      "broadcaster) to its delivery to an app.",
      prometheus::MetricType::Histogram,
      {sources_.counters->LatencyMetric()}});
  return out;
}

}  // namespace switchboard::consumer
