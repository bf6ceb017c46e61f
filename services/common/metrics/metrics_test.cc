#include "services/common/metrics/metrics.h"

#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "tests/testing/http_get.h"

namespace switchboard {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<MetricsSettings> ParseYaml(const std::string& yaml) {
  auto node = ConfigNode::Parse(yaml, "x.yaml");
  if (!node.ok()) return node.status();
  return MetricsSettings::Parse(*node);
}

TEST(MetricsSettingsTest, OffByDefault) {
  auto s = ParseYaml("{}");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE(s->enabled());
  EXPECT_EQ(s->max_label_values, 100u);
}

TEST(MetricsSettingsTest, ErrorsNameTheField) {
  auto bad = ParseYaml("metrics: {listen: localhost}");
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("metrics.listen: expected host:port"));
  bad = ParseYaml("metrics: {listen: '127.0.0.1:70000'}");
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("metrics.listen"));
  bad = ParseYaml("metrics: {max_label_values: 0}");
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("metrics.max_label_values"));
  bad = ParseYaml("metrics: {port: 1}");
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("metrics.port"));
  EXPECT_TRUE(ParseYaml("metrics: {listen: '[::]:9090'}").ok());
}

std::map<std::string, double> Samples(const prometheus::MetricFamily& f,
                                      const std::string& label) {
  std::map<std::string, double> out;
  for (const auto& m : f.metric) {
    for (const auto& l : m.label) {
      if (l.name == label) out[l.value] = m.gauge.value;
    }
  }
  return out;
}

TEST(AddCappedGaugesTest, TheLargestKeepTheirLabelTheRestAreSummed) {
  auto family = GaugeFamily("switchboard_test_depth", "test");
  AddCappedGauges(family, "queue",
                  {{"a", 5, 5}, {"b", 50, 50}, {"c", 1, 1}, {"d", 7, 7}}, 2);
  EXPECT_EQ(Samples(family, "queue"),
            (std::map<std::string, double>{{"b", 50}, {"d", 7}, {"other", 6}}));
}

TEST(AddCappedGaugesTest, AQueueNamedOtherIsCountedAsOther) {
  auto family = GaugeFamily("switchboard_test_depth", "test");
  AddCappedGauges(family, "queue", {{"other", 3, 3}, {"a", 1, 1}}, 10);
  EXPECT_EQ(Samples(family, "queue"),
            (std::map<std::string, double>{{"a", 1}, {"other", 3}}));
}

TEST(CounterLabelCapTest, TheFirstValuesSeenKeepTheirLabelForGood) {
  CounterLabelCap cap(2);
  EXPECT_EQ(cap.LabelFor("a"), "a");
  EXPECT_EQ(cap.LabelFor("b"), "b");
  EXPECT_EQ(cap.LabelFor("c"), "other");
  EXPECT_EQ(cap.LabelFor("a"), "a");
  EXPECT_EQ(cap.LabelFor("c"), "other");
}

TEST(HistogramBatchTest, AddsWhatWasObservedInOneCall) {
  prometheus::Registry registry;
  const prometheus::Histogram::BucketBoundaries bounds{1, 2, 3};
  auto& h = prometheus::BuildHistogram().Name("h").Register(registry).Add(
      {}, bounds);
  HistogramBatch batch(bounds);
  for (double v : {0.5, 1.0, 2.5, 9.0}) batch.Observe(v);
  batch.FlushTo(h);
  batch.FlushTo(h);  // nothing more
  const auto metric = h.Collect();
  EXPECT_EQ(metric.histogram.sample_count, 4u);
  EXPECT_DOUBLE_EQ(metric.histogram.sample_sum, 13.0);
  ASSERT_EQ(metric.histogram.bucket.size(), 4u);
  // Cumulative: <=1: 2, <=2: 2, <=3: 3, +Inf: 4 (1.0 is in le=1).
  EXPECT_EQ(metric.histogram.bucket[0].cumulative_count, 2u);
  EXPECT_EQ(metric.histogram.bucket[1].cumulative_count, 2u);
  EXPECT_EQ(metric.histogram.bucket[2].cumulative_count, 3u);
  EXPECT_EQ(metric.histogram.bucket[3].cumulative_count, 4u);
}

TEST(ProcessCollectorTest, ReadsThisProcess) {
  std::map<std::string, double> values;
  for (const auto& f : ProcessCollector().Collect()) {
    ASSERT_EQ(f.metric.size(), 1u) << f.name;
    values[f.name] = f.type == prometheus::MetricType::Counter
                         ? f.metric[0].counter.value
                         : f.metric[0].gauge.value;
  }
  EXPECT_GT(values["process_resident_memory_bytes"], 1 << 20);
  EXPECT_GE(values["process_threads"], 1);
  EXPECT_GE(values["process_open_fds"], 3);
  EXPECT_GT(values["process_max_fds"], values["process_open_fds"]);
  EXPECT_GT(values["process_start_time_seconds"],
            absl::ToUnixSeconds(absl::Now()) - 3600);
  EXPECT_LE(values["process_start_time_seconds"],
            absl::ToUnixSeconds(absl::Now()) + 1);
  EXPECT_GE(values["process_cpu_seconds_total"], 0);
}

TEST(MetricsServerTest, ServesRegisteredCollectablesAndProcessMetrics) {
  MetricsSettings settings;
  settings.listen = "127.0.0.1:0";
  auto server = MetricsServer::Start(settings);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter()
      .Name("switchboard_test_things_total")
      .Help("things")
      .Register(*registry)
      .Add({{"queue", "a"}})
      .Increment(3);
  (*server)->Register(registry);
  absl::StatusOr<std::string> body =
      testing::HttpGet((*server)->port(), "/metrics");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_THAT(*body, HasSubstr("switchboard_test_things_total{queue=\"a\"} 3"));
  EXPECT_THAT(*body, HasSubstr("process_resident_memory_bytes"));
}

TEST(MetricsServerTest, ABusyPortIsAnErrorNamingTheField) {
  MetricsSettings settings;
  settings.listen = "127.0.0.1:0";
  auto first = MetricsServer::Start(settings);
  ASSERT_TRUE(first.ok());
  settings.listen = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = MetricsServer::Start(settings);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr("metrics.listen"));
}

}  // namespace
}  // namespace switchboard
