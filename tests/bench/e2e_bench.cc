// End-to-end throughput and latency: producer -> broadcaster -> bridge
// (memory) -> consumer -> subscriber, every service a real process on
// loopback, next to two baselines measured in the same run on the same
// machine:
//
//   - raw one-hop: a batched gRPC stream to a Bridge service in this process
//     that answers every batch at once (gRPC and protobuf cost only);
//   - raw relay: the pipeline's shape with zero application work, the
//     architecture's own limit: producer -> relay -> relay -> relay -> sink,
//     4 gRPC hops through 3 processes like the pipeline's, each relay a
//     tests/bench:raw_relay process forwarding each message's bytes without
//     parsing them (raw_relay.h). Producer and sink are in this process; the
//     sink records each event's latency. Saturated, then paced at
//     --paced_rate; --raw_relay=false skips it.
//
//   bazel run //tests/bench:e2e_bench -- --events=500000
//
// Where the services' CPU goes: --profile=DIR runs `perf record -F 499 -g
// --call-graph dwarf,16384 -p PID` (Debian's linux-perf) on the broadcaster,
// the mq-bridge and the consumer during the saturated pipeline run, writes
// DIR/<service>.perf.data (and DIR/<service>.report.txt), prints the top of
// each `perf report --no-children --sort dso,sym` and the command to explore
// them. perf's own CPU slows that run down (the "perf" figure of its CPU
// line). A relative DIR is relative to where `bazel run` was started.
//
//   bazel run //tests/bench:e2e_bench -- --profile=/tmp/prof
//
// Prints numbers and asserts nothing: these machines are noisy.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "tests/bench/bench_common.h"
#include "tests/bench/metrics_scraper.h"
#include "tests/bench/pipeline_clients.h"
#include "tests/bench/profiler.h"
#include "tests/bench/raw_baselines.h"
#include "tests/testing/cluster.h"
#include "tests/testing/rabbitmq_server.h"

ABSL_FLAG(int, events, 300000, "Events per throughput run.");
ABSL_FLAG(std::string, buffer, "memory",
          "The broadcaster's buffer.type: memory, or disk (fsync: batch, in "
          "the run's directory).");
ABSL_FLAG(int, event_bytes, 256, "Serialized size of each event.");
ABSL_FLAG(int, batch, 1000, "Events per batch, pipeline and raw.");
ABSL_FLAG(int, window, 16, "Batches in flight, pipeline and raw.");
ABSL_FLAG(int, credit, 10000, "Subscriber credit window.");
ABSL_FLAG(int, confirm_window, 10000,
          "rabbitmq: the bridge's transport.rabbitmq.confirm_window.");
ABSL_FLAG(std::string, delivery_linger, "1ms",
          "rabbitmq: the bridge's transport.rabbitmq.delivery_linger.");
ABSL_FLAG(int, dedup_window, 100000,
          "The consumer's dedup_window (0 turns deduplication off).");
ABSL_FLAG(bool, separate_phases, false,
          "Also measure publishing alone (no subscriber) and then draining "
          "the filled queue alone, to see which side limits the rate.");
ABSL_FLAG(int, broadcaster_inflight, 8,
          "The broadcaster's bridge.max_inflight_batches.");
ABSL_FLAG(int, paced_rate, 10000,
          "Events/s of the light-load latency run (0 skips it).");
ABSL_FLAG(std::string, transport, "memory",
          "memory, or rabbitmq (starts a private rabbitmq-server and also "
          "measures a raw rabbitmq-c publisher and consumer).");
ABSL_FLAG(bool, persistent, true,
          "rabbitmq: durable queues and persistent messages.");
ABSL_FLAG(bool, half_saturation, true,
          "After the saturated run, a run paced at half its rate, with its "
          "latency percentiles.");
ABSL_FLAG(bool, metrics, false,
          "Serve /metrics on every service (metrics.listen) and scrape the "
          "consumer's once a second during the throughput run, as Prometheus "
          "would; prints the delivery rate the scrapes show next to the "
          "benchmark's own. Run with and without to see what metrics cost.");
ABSL_FLAG(bool, raw_baselines, true,
          "rabbitmq: measure the raw rabbitmq-c pairs first (false: only the "
          "pipeline, e.g. to compare settings).");
ABSL_FLAG(bool, verbose_queue, false,
          "Also route every event to the verbose queue (two queues per "
          "event instead of one).");
ABSL_FLAG(bool, raw_relay, true,
          "Measure the raw relay baseline: producer -> 3 raw_relay processes "
          "-> sink, the pipeline's shape with no application work.");
ABSL_FLAG(std::string, profile, "",
          "A directory: perf record each service during the saturated "
          "pipeline run into DIR/<service>.perf.data and print the top of "
          "each profile (needs /usr/bin/perf, Debian's linux-perf).");

namespace switchboard::bench {
namespace {

// Outside `bazel test` nobody cleans TEST_TMPDIR: the broker's data and the
// services' files go to a directory of this run, removed when it ends (after
// the broker and the services, which are declared later and so go first).
class RunDirectory {
 public:
  RunDirectory() {
    if (std::getenv("TEST_TMPDIR") != nullptr) return;
    char pattern[] = "/tmp/switchboard-bench-XXXXXX";
    if (mkdtemp(pattern) == nullptr) return;
    path_ = pattern;
    setenv("TEST_TMPDIR", path_.c_str(), 1);
  }
  ~RunDirectory() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }

 private:
  std::string path_;
};

// The raw rabbitmq-c pairs on `broker`: bare messages, through a topic
// exchange, and with switchboard's message shape, each with its CPU line.
struct RabbitBaselines {
  double bare = 0;
  double shaped = 0;
};

RabbitBaselines MeasureRawRabbitMq(const testing::RabbitMqServer& broker, int n,
                                   int bytes, bool persistent) {
  RabbitBaselines raw;
  auto cpu = CpuByGroup();
  auto measure = [&](Shape shape) {
    return RawRabbitMqRate(broker.amqp_port(), n, bytes, persistent, shape);
  };
  auto print_cpu = [&] {
    auto cpu_after = CpuByGroup();
    PrintCpu(cpu, cpu_after, n);
    cpu = cpu_after;
  };
  raw.bare = measure(Shape::kBare);
  std::printf(
      "raw rabbitmq-c publisher (confirms%s) + consumer (acks), "
      "concurrent, bare messages: %.0f msg/s\n",
      persistent ? ", persistent" : "", raw.bare);
  print_cpu();
  const double topic = measure(Shape::kTopic);
  std::printf("  same through a topic exchange: %.0f msg/s\n", topic);
  print_cpu();
  raw.shaped = measure(Shape::kSwitchboard);
  std::printf(
      "  same with switchboard's message shape (topic exchange, "
      "properties): %.0f msg/s (the interop metadata costs the "
      "broker %.0f%%)\n",
      raw.shaped, 100.0 * (1.0 - raw.shaped / topic));
  print_cpu();
  return raw;
}

// The services' configuration from the flags (`broker`: null unless
// --transport=rabbitmq). An error names the bad flag.
absl::StatusOr<testing::Cluster::Options> ClusterOptions(
    const testing::RabbitMqServer* broker) {
  testing::Cluster::Options options;
  // As in production: no lock-order checks on every mutex acquisition.
  options.mutex_deadlock_detection = false;
  if (broker != nullptr) {
    options.bridge_yaml = absl::StrCat(
        "listen: 127.0.0.1:0\ntransport:\n  driver: rabbitmq\n  rabbitmq:\n"
        "    port: ",
        broker->amqp_port(),
        "\n    durable: ", absl::GetFlag(FLAGS_persistent) ? "true" : "false",
        "\n    confirm_window: ", absl::GetFlag(FLAGS_confirm_window),
        "\n    delivery_linger: ", absl::GetFlag(FLAGS_delivery_linger), "\n");
  }
  options.broadcaster_yaml = absl::StrCat(
      "listen: 127.0.0.1:0\nbridge:\n  address: $BRIDGE\n"
      "  max_inflight_batches: ",
      absl::GetFlag(FLAGS_broadcaster_inflight), "\n",
      // Every event is counted: a backlog must not drop any.
      "queue_limits: {default: {max_length: 0}}\n",
      absl::GetFlag(FLAGS_verbose_queue) ? ""
                                         : "routing:\n  verbose_queue: ''\n");
  if (absl::GetFlag(FLAGS_buffer) == "disk") {
    // RunDirectory has set TEST_TMPDIR to this run's directory.
    absl::StrAppend(&options.broadcaster_yaml,
                    "buffer:\n  type: disk\n  disk:\n    path: ",
                    std::getenv("TEST_TMPDIR"), "/broadcaster-buffer\n");
  } else if (absl::GetFlag(FLAGS_buffer) != "memory") {
    return absl::InvalidArgumentError("--buffer: memory or disk");
  }
  options.consumer_yaml +=
      absl::StrCat("dedup_window: ", absl::GetFlag(FLAGS_dedup_window), "\n");
  if (absl::GetFlag(FLAGS_metrics)) {
    for (std::string* yaml : {&options.bridge_yaml, &options.broadcaster_yaml,
                              &options.consumer_yaml}) {
      absl::StrAppend(yaml, "metrics:\n  listen: 127.0.0.1:0\n");
    }
  }
  return options;
}

// One event creates the app queue; taking it out leaves the queue empty
// for the runs, whose subscriber then attaches before they publish.
void PrimeQueue(const std::string& broadcaster, const std::string& consumer,
                int bytes) {
  Produce(broadcaster, 1, bytes, 1, 1, 0);
  testing::Eventually([&] {
    auto q = testing::ListQueues(consumer);
    return q.ok() && q->queues_size() > 0;
  });
  Measure(
      consumer, 1, 1, [] {}, /*only_this_run=*/false);
}

// The saturated run, with --metrics' scraper and --profile's profiler
// around it; prints its lines and returns its rate (events/s).
double SaturatedRun(testing::Cluster& cluster, double raw,
                    const RabbitBaselines& rabbit,
                    std::unique_ptr<Profiler>* profiler) {
  const int n = absl::GetFlag(FLAGS_events);
  std::unique_ptr<Scraper> scraper;
  if (absl::GetFlag(FLAGS_metrics)) {
    scraper =
        std::make_unique<Scraper>(cluster.MetricsPort("consumer"),
                                  "switchboard_consumer_deliveries_total");
  }
  if (!absl::GetFlag(FLAGS_profile).empty()) {
    *profiler = Profiler::Start(absl::GetFlag(FLAGS_profile),
                                {{"broadcaster", cluster.broadcaster().pid()},
                                 {"mq-bridge", cluster.bridge().pid()},
                                 {"consumer", cluster.consumer().pid()}});
  }
  const std::string broadcaster = cluster.broadcaster_address();
  const auto cpu_before = CpuByGroup();
  Result full =
      Measure(cluster.consumer_address(), n, absl::GetFlag(FLAGS_credit), [&] {
        Produce(broadcaster, n, absl::GetFlag(FLAGS_event_bytes),
                absl::GetFlag(FLAGS_batch), absl::GetFlag(FLAGS_window), 0);
      });
  const auto cpu_after = CpuByGroup();
  if (*profiler != nullptr) (*profiler)->Stop();
  const double rate = full.received / full.seconds;
  std::printf(
      "pipeline producer->broadcaster->bridge(%s)->consumer->subscriber "
      "(%s): %d events in %.2f s = %.0f events/s = %.2fx raw one-hop; latency "
      "at saturation %s\n",
      absl::GetFlag(FLAGS_transport).c_str(),
      absl::GetFlag(FLAGS_verbose_queue) ? "2 queues/event" : "1 queue/event",
      full.received, full.seconds, rate, rate / raw,
      full.Percentiles().c_str());
  PrintCpu(cpu_before, cpu_after, full.received);
  if (scraper != nullptr) {
    std::printf(
        "metrics on: the consumer's /metrics, scraped every second during "
        "the run, show %.0f deliveries/s (the run measured %.0f events/s)\n",
        scraper->Stop(), rate);
  }
  if (rabbit.bare > 0 && rabbit.shaped > 0) {
    std::printf(
        "pipeline on rabbitmq = %.2fx raw rabbitmq-c with bare messages, "
        "%.2fx with switchboard's message shape\n",
        rate / rabbit.bare, rate / rabbit.shaped);
  }
  return rate;
}

// --separate_phases: publishing alone until the broadcaster has everything
// confirmed, then draining the filled queue alone.
void SeparatePhases(const std::string& broadcaster,
                    const std::string& consumer) {
  const int n = absl::GetFlag(FLAGS_events);
  const int64_t start = NowNanos();
  Produce(broadcaster, n, absl::GetFlag(FLAGS_event_bytes),
          absl::GetFlag(FLAGS_batch), absl::GetFlag(FLAGS_window), 0);
  testing::Eventually(
      [&] {
        auto stats = testing::GetBroadcasterStats(broadcaster);
        return stats.ok() && stats->buffered() == 0;
      },
      absl::Minutes(10));
  const double publish_secs = (NowNanos() - start) / 1e9;
  Result drain = Measure(
      consumer, n, absl::GetFlag(FLAGS_credit), [] {},
      /*only_this_run=*/false);
  std::printf("publish alone: %.0f events/s; drain alone: %.0f events/s\n",
              n / publish_secs, drain.received / drain.seconds);
}

// Three seconds' worth of events paced at `rate`: their latency.
Result PacedRun(const std::string& broadcaster, const std::string& consumer,
                int rate) {
  const int m = rate * 3;
  return Measure(consumer, m, absl::GetFlag(FLAGS_credit), [&] {
    Produce(broadcaster, m, absl::GetFlag(FLAGS_event_bytes),
            absl::GetFlag(FLAGS_batch), absl::GetFlag(FLAGS_window), rate);
  });
}

// What each acceptance level costs the producer: batches of 100, one at a
// time, with nothing else running (last: its events stay in the app queue).
void AcceptanceLatencies(const std::string& broadcaster) {
  for (const auto level :
       {switchboard::v1::BUFFERED, switchboard::v1::CONFIRMED}) {
    const auto [p50, p99] = AnswerLatency(broadcaster, level, 300, 100,
                                          absl::GetFlag(FLAGS_event_bytes));
    std::printf(
        "publish answer, acceptance %s (batches of 100, one at a time): "
        "p50 %.2f ms, p99 %.2f ms\n",
        switchboard::v1::Acceptance_Name(level).c_str(), p50, p99);
  }
}

int Main() {
  RunDirectory run_directory;
  const int n = absl::GetFlag(FLAGS_events);
  const int bytes = absl::GetFlag(FLAGS_event_bytes);
  const int batch = absl::GetFlag(FLAGS_batch);
  const int window = absl::GetFlag(FLAGS_window);
  std::printf(
      "machine: %u cores; %d events of %d bytes, batches of %d, "
      "window %d; broadcaster buffer: %s\n",
      std::thread::hardware_concurrency(), n, bytes, batch, window,
      absl::GetFlag(FLAGS_buffer).c_str());

  const double raw = RawOneHopRate(n, bytes, batch, window);
  std::printf("raw one-hop batched gRPC stream: %.0f events/s\n", raw);
  const int paced = absl::GetFlag(FLAGS_paced_rate);
  const double relay =
      absl::GetFlag(FLAGS_raw_relay)
          ? RawRelayBaseline(n, bytes, batch, window, paced, raw)
          : 0;

  std::unique_ptr<testing::RabbitMqServer> broker;
  RabbitBaselines rabbit;
  if (absl::GetFlag(FLAGS_transport) == "rabbitmq") {
    auto started = testing::RabbitMqServer::Start();
    if (!started.ok()) {
      std::fprintf(stderr, "%s\n", started.status().ToString().c_str());
      return 1;
    }
    broker = *std::move(started);
    if (absl::GetFlag(FLAGS_raw_baselines)) {
      rabbit = MeasureRawRabbitMq(*broker, n, bytes,
                                  absl::GetFlag(FLAGS_persistent));
    }
  }

  absl::StatusOr<testing::Cluster::Options> options =
      ClusterOptions(broker.get());
  if (!options.ok()) {
    std::fprintf(stderr, "%s\n",
                 std::string(options.status().message()).c_str());
    return 2;
  }
  auto cluster = testing::Cluster::Start(*options);
  if (!cluster.ok()) {
    std::fprintf(stderr, "cannot start the services: %s\n",
                 cluster.status().ToString().c_str());
    return 1;
  }
  const std::string broadcaster = (*cluster)->broadcaster_address();
  const std::string consumer = (*cluster)->consumer_address();
  PrimeQueue(broadcaster, consumer, bytes);

  std::unique_ptr<Profiler> profiler;
  const double rate = SaturatedRun(**cluster, raw, rabbit, &profiler);
  if (absl::GetFlag(FLAGS_separate_phases)) {
    SeparatePhases(broadcaster, consumer);
  }
  if (paced > 0) {
    std::printf("pipeline at %d events/s: latency %s\n", paced,
                PacedRun(broadcaster, consumer, paced).Percentiles().c_str());
  }
  if (absl::GetFlag(FLAGS_half_saturation)) {
    const int half = static_cast<int>(rate / 2);
    std::printf("pipeline at half of saturation (%d events/s): latency %s\n",
                half,
                PacedRun(broadcaster, consumer, half).Percentiles().c_str());
  }
  AcceptanceLatencies(broadcaster);

  if (profiler != nullptr) profiler->Report();
  if (relay > 0) std::printf("pipeline / raw relay = %.2fx\n", rate / relay);
  return 0;
}

}  // namespace
}  // namespace switchboard::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return switchboard::bench::Main();
}
