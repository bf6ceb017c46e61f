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
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "switchboard/v1/broadcaster.grpc.pb.h"
#include "switchboard/v1/consumer.grpc.pb.h"
#include "switchboard/v1/event.pb.h"
#include "tests/bench/bench_common.h"
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

using switchboard::v1::Event;

// ---- The pipeline ----

// An event whose serialized form is about `bytes` long once the
// broadcaster has given it an id.
Event Template(int bytes) {
  Event e;
  e.set_source("bench/producer");
  e.set_type("bench.event");
  e.set_id("00000000-0000-4000-8000-000000000000");
  e.set_sequence(1000000);
  e.mutable_time()->set_seconds(1700000000);
  e.mutable_time()->set_nanos(100000000);
  int pad = bytes - static_cast<int>(e.ByteSizeLong()) - 3;
  e.set_binary_data(std::string(std::max(pad, 0), 'x'));
  e.clear_id();
  e.clear_sequence();
  return e;
}

// Publishes `n` events, at most `rate` per second (0: as fast as the
// window allows), each stamped with its send time.
void Produce(const std::string& address, int n, int bytes, int batch,
             int window, int rate) {
  auto stub = switchboard::v1::Broadcaster::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  auto stream = stub->Publish(&context);
  Window slots(window);
  std::thread reader([&] {
    switchboard::v1::PublishResponse r;
    while (stream->Read(&r)) slots.Release();
  });
  const Event tmpl = Template(bytes);
  const int64_t start = NowNanos();
  for (int sent = 0; sent < n;) {
    WaitForTurn(start, sent, rate);
    slots.Acquire();
    switchboard::v1::PublishRequest request;
    const int k = NextBatchSize(rate, batch, n - sent);
    const int64_t now = NowNanos();
    for (int i = 0; i < k; ++i) {
      Event* e = request.add_events();
      *e = tmpl;
      e->mutable_time()->set_seconds(now / 1000000000);
      e->mutable_time()->set_nanos(now % 1000000000);
    }
    sent += k;
    if (!stream->Write(request)) break;
  }
  stream->WritesDone();
  reader.join();
  stream->Finish();
}

// The sum of every sample of `name` (all label sets) in a /metrics text.
double SumOf(const std::string& text, const std::string& name) {
  double sum = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, name.size(), name) != 0) continue;
    if (line.size() > name.size() && line[name.size()] != '{' &&
        line[name.size()] != ' ') {
      continue;
    }
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

// Scrapes `port`'s /metrics once a second, as Prometheus would, until
// stopped; then the rate of `counter` between the first and last scrape.
class Scraper {
 public:
  Scraper(int port, std::string counter)
      : port_(port), counter_(std::move(counter)) {
    thread_ = std::thread([this] {
      while (!stop_.WaitForNotificationWithTimeout(absl::Seconds(1))) {
        absl::StatusOr<std::string> text = testing::HttpGet(port_, "/metrics");
        if (!text.ok()) continue;
        absl::MutexLock lock(&mu_);
        samples_.push_back({absl::Now(), SumOf(*text, counter_)});
      }
    });
  }
  // Events per second between the first and the last scrape with a change.
  double Stop() {
    stop_.Notify();
    thread_.join();
    absl::MutexLock lock(&mu_);
    if (samples_.size() < 2) return 0;
    auto last = samples_.end() - 1;
    while (last != samples_.begin() && (last - 1)->second == last->second) {
      --last;  // the run was over before this scrape
    }
    if (last == samples_.begin()) return 0;
    return (last->second - samples_.front().second) /
           absl::ToDoubleSeconds(last->first - samples_.front().first);
  }

 private:
  const int port_;
  const std::string counter_;
  absl::Notification stop_;
  std::thread thread_;
  absl::Mutex mu_;
  std::vector<std::pair<absl::Time, double>> samples_ ABSL_GUARDED_BY(mu_);
};

// Subscribes, then runs `produce`, until `n` events arrived; acks every
// response; latency is arrival time minus the producer's stamp.
Result Measure(const std::string& consumer, int n, int credit,
               const std::function<void()>& produce,
               bool only_this_run = true) {
  auto stub = switchboard::v1::Consumer::NewStub(
      grpc::CreateChannel(consumer, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  auto stream = stub->Subscribe(&context);
  switchboard::v1::SubscribeRequest open;
  open.mutable_open()->add_queues("app.bench.producer");
  open.mutable_open()->set_credit(credit);
  stream->Write(open);
  std::vector<int64_t> latencies;
  latencies.reserve(n);
  const int64_t start = NowNanos();
  std::thread producer(produce);
  switchboard::v1::SubscribeResponse response;
  int earlier = 0;
  auto take = [&](const switchboard::v1::SubscribeResponse& response) {
    const int64_t now = NowNanos();
    switchboard::v1::SubscribeRequest ack;
    for (const auto& d : response.deliveries()) {
      const auto& t = d.event().time();
      const int64_t stamp = t.seconds() * 1000000000 + t.nanos();
      // Sent before this run started: an earlier run's event delivered
      // again (its ack was lost with its stream); acked, not measured.
      if (only_this_run && stamp < start) {
        ++earlier;
      } else {
        latencies.push_back(now - stamp);
      }
      ack.mutable_ack()->add_tags(d.tag());
    }
    stream->Write(ack);
  };
  while (static_cast<int>(latencies.size()) < n && stream->Read(&response)) {
    take(response);
  }
  const int64_t end = NowNanos();
  producer.join();
  // `close` ends the stream once the acks written before it are applied, so
  // nothing of this run comes again in the next one (where its age would
  // read as latency). Cancelled if the consumer does not end it in time.
  absl::Notification ended;
  std::thread guard([&] {
    if (!ended.WaitForNotificationWithTimeout(absl::Seconds(10))) {
      context.TryCancel();
    }
  });
  switchboard::v1::SubscribeRequest close;
  close.mutable_close();
  stream->Write(close);
  while (stream->Read(&response)) take(response);
  stream->Finish();
  ended.Notify();
  guard.join();
  if (earlier > 0) {
    std::printf(
        "  (%d events of an earlier run were delivered again and not "
        "counted)\n",
        earlier);
  }
  Result r;
  r.received = latencies.size();
  r.seconds = (end - start) / 1e9;
  SetPercentiles(latencies, r);
  return r;
}

// The producer's view of one acceptance level: one batch at a time, the
// time from writing it to its answer, p50 and p99 in ms.
std::pair<double, double> AnswerLatency(const std::string& address,
                                        switchboard::v1::Acceptance level,
                                        int batches, int batch, int bytes) {
  auto stub = switchboard::v1::Broadcaster::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  auto stream = stub->Publish(&context);
  const Event tmpl = Template(bytes);
  std::vector<int64_t> latencies;
  for (int b = 0; b < batches; ++b) {
    switchboard::v1::PublishRequest request;
    request.set_batch_id(b + 1);
    request.set_acceptance(level);
    for (int i = 0; i < batch; ++i) *request.add_events() = tmpl;
    const int64_t start = NowNanos();
    switchboard::v1::PublishResponse response;
    if (!stream->Write(request) || !stream->Read(&response)) break;
    latencies.push_back(NowNanos() - start);
  }
  stream->WritesDone();
  stream->Finish();
  if (latencies.empty()) return {0, 0};
  std::sort(latencies.begin(), latencies.end());
  auto at = [&](double q) {
    return latencies[std::min(latencies.size() - 1,
                              static_cast<size_t>(q * latencies.size()))] /
           1e6;
  };
  return {at(0.50), at(0.99)};
}

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

  const bool rabbit = absl::GetFlag(FLAGS_transport) == "rabbitmq";
  const bool persistent = absl::GetFlag(FLAGS_persistent);
  std::unique_ptr<testing::RabbitMqServer> broker;
  double raw_rabbit = 0;
  double raw_shaped = 0;
  if (rabbit) {
    auto started = testing::RabbitMqServer::Start();
    if (!started.ok()) {
      std::fprintf(stderr, "%s\n", started.status().ToString().c_str());
      return 1;
    }
    broker = *std::move(started);
  }
  if (rabbit && absl::GetFlag(FLAGS_raw_baselines)) {
    auto cpu = CpuByGroup();
    raw_rabbit = RawRabbitMqRate(broker->amqp_port(), n, bytes, persistent,
                                 Shape::kBare);
    std::printf(
        "raw rabbitmq-c publisher (confirms%s) + consumer (acks), "
        "concurrent, bare messages: %.0f msg/s\n",
        persistent ? ", persistent" : "", raw_rabbit);
    auto cpu_after = CpuByGroup();
    PrintCpu(cpu, cpu_after, n);
    cpu = cpu_after;
    const double raw_topic = RawRabbitMqRate(broker->amqp_port(), n, bytes,
                                             persistent, Shape::kTopic);
    std::printf("  same through a topic exchange: %.0f msg/s\n", raw_topic);
    cpu_after = CpuByGroup();
    PrintCpu(cpu, cpu_after, n);
    cpu = cpu_after;
    raw_shaped = RawRabbitMqRate(broker->amqp_port(), n, bytes, persistent,
                                 Shape::kSwitchboard);
    std::printf(
        "  same with switchboard's message shape (topic exchange, "
        "properties): %.0f msg/s (the interop metadata costs the "
        "broker %.0f%%)\n",
        raw_shaped, 100.0 * (1.0 - raw_shaped / raw_topic));
    PrintCpu(cpu, CpuByGroup(), n);
  }

  testing::Cluster::Options options;
  // As in production: no lock-order checks on every mutex acquisition.
  options.mutex_deadlock_detection = false;
  if (rabbit) {
    options.bridge_yaml = absl::StrCat(
        "listen: 127.0.0.1:0\ntransport:\n  driver: rabbitmq\n  rabbitmq:\n"
        "    port: ",
        broker->amqp_port(), "\n    durable: ", persistent ? "true" : "false",
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
    std::fprintf(stderr, "--buffer: memory or disk\n");
    return 2;
  }
  options.consumer_yaml +=
      absl::StrCat("dedup_window: ", absl::GetFlag(FLAGS_dedup_window), "\n");
  if (absl::GetFlag(FLAGS_metrics)) {
    for (std::string* yaml : {&options.bridge_yaml, &options.broadcaster_yaml,
                              &options.consumer_yaml}) {
      absl::StrAppend(yaml, "metrics:\n  listen: 127.0.0.1:0\n");
    }
  }
  auto cluster = testing::Cluster::Start(options);
  if (!cluster.ok()) {
    std::fprintf(stderr, "cannot start the services: %s\n",
                 cluster.status().ToString().c_str());
    return 1;
  }
  const std::string broadcaster = (*cluster)->broadcaster_address();
  const std::string consumer = (*cluster)->consumer_address();
  // One event creates the app queue, so the subscriber can attach first.
  Produce(broadcaster, 1, bytes, 1, 1, 0);
  testing::Eventually([&] {
    auto q = testing::ListQueues(consumer);
    return q.ok() && q->queues_size() > 0;
  });
  Measure(
      consumer, 1, 1, [] {},
      /*only_this_run=*/false);  // takes that first event out

  std::unique_ptr<Scraper> scraper;
  if (absl::GetFlag(FLAGS_metrics)) {
    scraper =
        std::make_unique<Scraper>((*cluster)->MetricsPort("consumer"),
                                  "switchboard_consumer_deliveries_total");
  }
  std::unique_ptr<Profiler> profiler;
  if (!absl::GetFlag(FLAGS_profile).empty()) {
    profiler =
        Profiler::Start(absl::GetFlag(FLAGS_profile),
                        {{"broadcaster", (*cluster)->broadcaster().pid()},
                         {"mq-bridge", (*cluster)->bridge().pid()},
                         {"consumer", (*cluster)->consumer().pid()}});
  }
  const auto cpu_before = CpuByGroup();
  Result full = Measure(consumer, n, absl::GetFlag(FLAGS_credit), [&] {
    Produce(broadcaster, n, bytes, batch, window, 0);
  });
  const auto cpu_after = CpuByGroup();
  if (profiler != nullptr) profiler->Stop();
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
  if (raw_rabbit > 0 && raw_shaped > 0) {
    std::printf(
        "pipeline on rabbitmq = %.2fx raw rabbitmq-c with bare messages, "
        "%.2fx with switchboard's message shape\n",
        rate / raw_rabbit, rate / raw_shaped);
  }

  if (absl::GetFlag(FLAGS_separate_phases)) {
    // Publish only: until the broadcaster has everything confirmed.
    const int64_t start = NowNanos();
    Produce(broadcaster, n, bytes, batch, window, 0);
    testing::Eventually(
        [&] {
          auto stats = testing::GetBroadcasterStats(broadcaster);
          return stats.ok() && stats->buffered() == 0;
        },
        absl::Minutes(10));
    const double publish_secs = (NowNanos() - start) / 1e9;
    // Drain only.
    Result drain = Measure(
        consumer, n, absl::GetFlag(FLAGS_credit), [] {},
        /*only_this_run=*/false);
    std::printf("publish alone: %.0f events/s; drain alone: %.0f events/s\n",
                n / publish_secs, drain.received / drain.seconds);
  }

  if (paced > 0) {
    const int m = paced * 3;
    Result light = Measure(consumer, m, absl::GetFlag(FLAGS_credit), [&] {
      Produce(broadcaster, m, bytes, batch, window, paced);
    });
    std::printf("pipeline at %d events/s: latency %s\n", paced,
                light.Percentiles().c_str());
  }
  if (absl::GetFlag(FLAGS_half_saturation)) {
    const int half = static_cast<int>(rate / 2);
    const int m = half * 3;
    Result mid = Measure(consumer, m, absl::GetFlag(FLAGS_credit), [&] {
      Produce(broadcaster, m, bytes, batch, window, half);
    });
    std::printf("pipeline at half of saturation (%d events/s): latency %s\n",
                half, mid.Percentiles().c_str());
  }
  // What each acceptance level costs the producer: batches of 100, one at
  // a time, with nothing else running (last: its
  // events stay in the app queue).
  for (const auto level :
       {switchboard::v1::BUFFERED, switchboard::v1::CONFIRMED}) {
    const auto [p50, p99] = AnswerLatency(broadcaster, level, 300, 100, bytes);
    std::printf(
        "publish answer, acceptance %s (batches of 100, one at a time): "
        "p50 %.2f ms, p99 %.2f ms\n",
        switchboard::v1::Acceptance_Name(level).c_str(), p50, p99);
  }

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
