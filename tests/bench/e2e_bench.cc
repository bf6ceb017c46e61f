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
#include <dirent.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "services/common/bidi_stream.h"
#include "services/common/server.h"
#include "services/mq-bridge/transport/rabbitmq/amqp_connection.h"
#include "switchboard/v1/bridge.grpc.pb.h"
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

int64_t NowNanos() { return absl::GetCurrentTimeNanos(); }

// ---- CPU accounting ----
//
// Throughput on a small machine is noisy from run to run; where the CPU goes
// per event is not. On 2 cores the broker competes with everything else, so
// CPU our processes take is throughput the broker does not get.

// CPU seconds (user + system) of this process and each of its descendants,
// summed by the group they belong to: "broker" (the Erlang VM and its
// helpers), "bench" (this process: the raw clients, or the gRPC producer and
// subscriber), "relay" (the raw relay baseline's processes), "perf" (the
// profiler of --profile), or the service's name.
std::map<std::string, double> CpuByGroup() {
  struct Proc {
    int ppid = 0;
    std::string comm;
    double seconds = 0;
  };
  std::map<int, Proc> procs;
  const double ticks = sysconf(_SC_CLK_TCK);
  if (DIR* dir = opendir("/proc")) {
    while (dirent* entry = readdir(dir)) {
      const int pid = std::atoi(entry->d_name);
      if (pid <= 0) continue;
      std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
      std::string line;
      if (!std::getline(in, line)) continue;
      // "pid (comm) state ppid ... utime stime": comm may hold spaces.
      const size_t open = line.find('('), close = line.rfind(')');
      if (open == std::string::npos || close == std::string::npos) continue;
      std::istringstream rest(line.substr(close + 2));
      std::string field;
      std::vector<std::string> fields;
      while (rest >> field) fields.push_back(field);
      if (fields.size() < 13) continue;
      procs[pid] = Proc{
          std::atoi(fields[1].c_str()), line.substr(open + 1, close - open - 1),
          (std::atof(fields[11].c_str()) + std::atof(fields[12].c_str())) /
              ticks};
    }
    closedir(dir);
  }
  std::map<std::string, double> groups;
  const int self = getpid();
  for (const auto& [pid, proc] : procs) {
    // Only this process's own tree.
    int up = pid;
    for (int depth = 0; up != self && up > 1 && depth < 32; ++depth) {
      auto it = procs.find(up);
      up = it == procs.end() ? 0 : it->second.ppid;
    }
    if (up != self) continue;
    std::string group = proc.comm;
    if (pid == self) {
      group = "bench";
    } else if (group == "raw_relay") {
      group = "relay";
    } else if (group != "broadcaster" && group != "mq-bridge" &&
               group != "consumer" && group != "perf") {
      group = "broker";
    }
    groups[group] += proc.seconds;
  }
  return groups;
}

// Prints the CPU each group took per 1000 events between two readings.
void PrintCpu(const std::map<std::string, double>& before,
              const std::map<std::string, double>& after, int events) {
  if (events <= 0) return;
  std::string line = "  CPU per 1000 events:";
  double services = 0;
  std::string per_service;
  for (const auto& [group, seconds] : after) {
    auto it = before.find(group);
    const double ms = 1000.0 *
                      (seconds - (it == before.end() ? 0 : it->second)) *
                      1000.0 / events;
    if (group != "broadcaster" && group != "mq-bridge" && group != "consumer") {
      // Not switchboard's: broker, bench, relay, perf.
      absl::StrAppend(&line, " ", group, " ", absl::StrFormat("%.1f", ms),
                      " ms,");
    } else {
      services += ms;
      absl::StrAppend(&per_service, per_service.empty() ? "" : ", ", group, " ",
                      absl::StrFormat("%.1f", ms));
    }
  }
  if (per_service.empty()) {
    line.pop_back();
  } else {
    absl::StrAppend(&line, " switchboard ", absl::StrFormat("%.1f", services),
                    " ms (", per_service, ")");
  }
  std::printf("%s\n", line.c_str());
}

// Acquire a slot of a window of in-flight batches; released by answers.
class Window {
 public:
  explicit Window(int size) : free_(size) {}
  void Acquire() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* free) { return *free > 0; }, &free_));
    --free_;
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    ++free_;
  }
  // No answer will come any more (the stream ended): Acquire stops waiting.
  void Close() {
    absl::MutexLock lock(&mu_);
    free_ = 1 << 30;
  }

 private:
  absl::Mutex mu_;
  int free_;
};

// ---- Raw baseline: one batched gRPC stream, one hop, answer per batch ----

// Answers every Produce batch at once: gRPC and protobuf cost only.
class NullBridge final : public switchboard::v1::Bridge::CallbackService,
                         public ServiceBase {
 public:
  std::string listen_address() const override { return "127.0.0.1:0"; }
  std::vector<grpc::Service*> grpc_services() override { return {this}; }

  grpc::ServerBidiReactor<switchboard::v1::ProduceRequest,
                          switchboard::v1::ProduceResponse>*
  Produce(grpc::CallbackServerContext*) override {
    class Stream final : public BidiStream<switchboard::v1::ProduceRequest,
                                           switchboard::v1::ProduceResponse> {
     public:
      Stream() : BidiStream(nullptr, 64) { StartStream(); }
      void OnRequest(switchboard::v1::ProduceRequest& r) override {
        switchboard::v1::ProduceResponse answer;
        answer.set_batch_id(r.batch_id());
        writer()->Send(std::move(answer));
      }
    };
    return new Stream();
  }
};

// Sends `n` events of `bytes` to the Bridge service at `address` on one
// Produce stream, in batches of `batch` with at most `window` unanswered;
// with `stamp` each event carries its send time (time_unix_nanos: 10 bytes
// more per event; raw one-hop's events have always gone without); with
// `rate` > 0 at most that many events per second, in batches of rate/1000
// (one a millisecond). Returns the seconds from the first write to the last
// answer.
absl::StatusOr<double> ProduceToBridge(const std::string& address, int n,
                                       int bytes, int batch, int window,
                                       int rate, bool stamp) {
  auto stub = switchboard::v1::Bridge::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  auto stream = stub->Produce(&context);
  Window slots(window);
  int answered = 0;  // the reader's until it is joined
  std::thread reader([&] {
    switchboard::v1::ProduceResponse r;
    while (stream->Read(&r)) {
      ++answered;
      slots.Release();
    }
    slots.Close();
  });
  const std::string payload(bytes, 'x');
  const int64_t start = NowNanos();
  int batches = 0;
  for (int sent = 0; sent < n;) {
    if (rate > 0) {
      const int64_t due = start + int64_t{1000000000} * sent / rate;
      const int64_t wait = due - NowNanos();
      if (wait > 0) absl::SleepFor(absl::Nanoseconds(wait));
    }
    slots.Acquire();
    switchboard::v1::ProduceRequest request;
    request.set_batch_id(sent);
    const int k =
        std::min(rate > 0 ? std::max(1, rate / 1000) : batch, n - sent);
    const int64_t now = NowNanos();
    for (int i = 0; i < k; ++i) {
      auto* e = request.add_events();
      e->set_id("00000000-0000-4000-8000-000000000000");
      e->set_event(payload);
      e->add_queues("app.bench.producer");
      if (stamp) e->set_time_unix_nanos(now);
    }
    sent += k;
    ++batches;
    if (!stream->Write(request)) break;
  }
  for (int i = 0; i < window; ++i) slots.Acquire();  // every answer in
  const double secs = (NowNanos() - start) / 1e9;
  stream->WritesDone();
  reader.join();
  const grpc::Status status = stream->Finish();
  if (answered != batches) {
    return absl::UnavailableError(
        absl::StrCat(address, ": ", answered, " of ", batches,
                     " batches answered; the stream ended with ",
                     status.error_code(), " ", status.error_message()));
  }
  return secs;
}

double RawOneHopRate(int n, int bytes, int batch, int window) {
  NullBridge service;
  auto server = RunningServer::Start(&service);
  const absl::StatusOr<double> secs =
      ProduceToBridge((*server)->dial_address(), n, bytes, batch, window,
                      /*rate=*/0, /*stamp=*/false);
  if (!secs.ok()) {
    std::fprintf(stderr, "raw one-hop: %s\n", secs.status().ToString().c_str());
    return 0;
  }
  return n / *secs;
}

// ---- Raw baseline on RabbitMQ: rabbitmq-c publisher and consumer ----

// How the raw baseline's messages look.
enum class Shape {
  // Straight to the queue (default exchange), delivery mode only.
  kBare,
  // Through a topic exchange, delivery mode only: the exchange's cost.
  kTopic,
  // Through a topic exchange with the properties the rabbitmq driver sets
  // (~130 bytes more per message): what interop costs the broker.
  kSwitchboard,
};

// A publisher with confirms (same window as the bridge) and a consumer
// with acks running concurrently on one queue; messages of `bytes`.
double RawRabbitMqRate(int port, int n, int bytes, bool persistent,
                       Shape shape) {
  const bool switchboard_shape = shape == Shape::kSwitchboard;
  using namespace switchboard::bridge::rabbitmq;
  ConnectionSettings settings;
  settings.nodes = {{"127.0.0.1", port}};
  auto pub = AmqpConnection::Open(settings, "raw publisher");
  auto sub = AmqpConnection::Open(settings, "raw consumer");
  if (!pub.ok() || !sub.ok()) {
    std::fprintf(stderr, "raw baseline: cannot connect\n");
    return 0;
  }
  amqp_connection_state_t p = (*pub)->get();
  amqp_connection_state_t c = (*sub)->get();
  const std::string queue =
      absl::StrCat("raw.bench.", persistent, ".", static_cast<int>(shape));
  (void)(*pub)->OpenChannel(1);
  (void)(*sub)->OpenChannel(1);
  amqp_queue_declare(p, 1, amqp_cstring_bytes(queue.c_str()), 0, persistent, 0,
                     0, amqp_empty_table);
  amqp_queue_purge(p, 1, amqp_cstring_bytes(queue.c_str()));
  amqp_confirm_select(p, 1);
  amqp_basic_qos(c, 1, 0, 10000, 0);
  amqp_basic_consume(c, 1, amqp_cstring_bytes(queue.c_str()), amqp_empty_bytes,
                     0, 0, 0, amqp_empty_table);
  const int64_t start = NowNanos();
  std::thread consumer([&] {
    int got = 0;
    while (got < n) {
      amqp_envelope_t envelope;
      amqp_maybe_release_buffers(c);
      timeval tv{10, 0};
      amqp_rpc_reply_t r = amqp_consume_message(c, &envelope, &tv, 0);
      if (r.reply_type != AMQP_RESPONSE_NORMAL) break;
      ++got;
      if (got % 100 == 0 || got == n) {
        amqp_basic_ack(c, 1, envelope.delivery_tag, 1);
      }
      amqp_destroy_envelope(&envelope);
    }
  });
  const std::string body(bytes, 'x');
  amqp_basic_properties_t props;
  props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
  props.delivery_mode = persistent ? 2 : 1;
  amqp_bytes_t exchange = amqp_empty_bytes;
  if (shape != Shape::kBare) {
    exchange = amqp_cstring_bytes("raw.topic");
    amqp_exchange_declare(p, 1, exchange, amqp_cstring_bytes("topic"), 0, 1, 0,
                          0, amqp_empty_table);
    amqp_queue_bind(p, 1, amqp_cstring_bytes(queue.c_str()), exchange,
                    amqp_cstring_bytes(queue.c_str()), amqp_empty_table);
  }
  if (switchboard_shape) {
    props._flags |= AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG |
                    AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_APP_ID_FLAG |
                    AMQP_BASIC_TIMESTAMP_FLAG;
    props.content_type = amqp_cstring_bytes(
        "application/x-protobuf; proto=switchboard.v1.Event");
    props.message_id =
        amqp_cstring_bytes("00000000-0000-4000-8000-000000000000");
    props.type = amqp_cstring_bytes("bench.event");
    props.app_id = amqp_cstring_bytes("bench/producer");
    props.timestamp = NowNanos() / 1000000000;
  }
  uint64_t confirmed = 0;
  auto read_confirms = [&](timeval tv) {
    amqp_frame_t frame;
    while (amqp_simple_wait_frame_noblock(p, &frame, &tv) == AMQP_STATUS_OK) {
      tv = timeval{0, 0};
      if (frame.frame_type == AMQP_FRAME_METHOD &&
          frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
        auto* ack =
            static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
        confirmed = std::max<uint64_t>(confirmed, ack->delivery_tag);
      }
      amqp_maybe_release_buffers(p);
    }
  };
  for (int i = 1; i <= n; ++i) {
    while (i - confirmed > 10000) read_confirms(timeval{1, 0});
    amqp_basic_publish(
        p, 1, exchange, amqp_cstring_bytes(queue.c_str()), 0, 0, &props,
        amqp_bytes_t{body.size(), const_cast<char*>(body.data())});
  }
  while (confirmed < static_cast<uint64_t>(n)) read_confirms(timeval{1, 0});
  consumer.join();
  return n / ((NowNanos() - start) / 1e9);
}

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
    if (rate > 0) {
      const int64_t due = start + int64_t{1000000000} * sent / rate;
      const int64_t wait = due - NowNanos();
      if (wait > 0) absl::SleepFor(absl::Nanoseconds(wait));
    }
    slots.Acquire();
    switchboard::v1::PublishRequest request;
    const int k =
        std::min(rate > 0 ? std::max(1, rate / 1000) : batch, n - sent);
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

struct Result {
  int received = 0;
  double seconds = 0;
  double p50_ms = 0;
  double p90_ms = 0;
  double p99_ms = 0;
  double p999_ms = 0;
  double max_ms = 0;

  // "p50 0.42 ms, p90 ..., max ..." for the benchmark's lines.
  std::string Percentiles() const {
    return absl::StrFormat(
        "p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms",
        p50_ms, p90_ms, p99_ms, p999_ms, max_ms);
  }
};

// Sets r's percentiles from `latencies` (nanoseconds; sorted here).
void SetPercentiles(std::vector<int64_t>& latencies, Result& r) {
  std::sort(latencies.begin(), latencies.end());
  auto at = [&](double q) {
    if (latencies.empty()) return 0.0;
    return latencies[std::min(latencies.size() - 1,
                              static_cast<size_t>(q * latencies.size()))] /
           1e6;
  };
  r.p50_ms = at(0.50);
  r.p90_ms = at(0.90);
  r.p99_ms = at(0.99);
  r.p999_ms = at(0.999);
  r.max_ms = at(1.0);
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

// ---- Raw relay baseline: the pipeline's shape with no application work ----

// A Bridge service that answers every Produce batch at once, like
// NullBridge, and keeps each event's latency: arrival minus its
// time_unix_nanos.
class LatencySink final : public switchboard::v1::Bridge::CallbackService,
                          public ServiceBase {
 public:
  std::string listen_address() const override { return "127.0.0.1:0"; }
  std::vector<grpc::Service*> grpc_services() override { return {this}; }

  grpc::ServerBidiReactor<switchboard::v1::ProduceRequest,
                          switchboard::v1::ProduceResponse>*
  Produce(grpc::CallbackServerContext*) override {
    class Stream final : public BidiStream<switchboard::v1::ProduceRequest,
                                           switchboard::v1::ProduceResponse> {
     public:
      explicit Stream(LatencySink* sink)
          : BidiStream(nullptr, 64), sink_(sink) {
        StartStream();
      }
      void OnRequest(switchboard::v1::ProduceRequest& r) override {
        sink_->Record(r);
        switchboard::v1::ProduceResponse answer;
        answer.set_batch_id(r.batch_id());
        writer()->Send(std::move(answer));
      }

     private:
      LatencySink* const sink_;
    };
    return new Stream(this);
  }

  // The latencies recorded since the last call, in nanoseconds.
  std::vector<int64_t> Take() {
    absl::MutexLock lock(&mu_);
    std::vector<int64_t> taken;
    taken.swap(latencies_);
    return taken;
  }

 private:
  void Record(const switchboard::v1::ProduceRequest& r) {
    const int64_t now = NowNanos();
    absl::MutexLock lock(&mu_);
    for (const auto& e : r.events()) {
      latencies_.push_back(now - e.time_unix_nanos());
    }
  }

  absl::Mutex mu_;
  std::vector<int64_t> latencies_ ABSL_GUARDED_BY(mu_);
};

// raw_relay processes (tests/bench:raw_relay) in a chain ending at a sink;
// address() is the first one's. Stopped (SIGTERM, then SIGKILL) on
// destruction.
class RelayChain {
 public:
  static absl::StatusOr<std::unique_ptr<RelayChain>> Start(
      const std::string& sink, int relays) {
    auto chain = std::unique_ptr<RelayChain>(new RelayChain());
    const std::string dir = testing::NewTempDir("raw-relay");
    const std::string binary = testing::Runfile("tests/bench/raw_relay");
    // From the last one, which relays to the sink, to the first.
    std::string to = sink;
    for (int i = relays; i >= 1; --i) {
      const std::string port_file = absl::StrCat(dir, "/relay", i, ".port");
      const std::string log = absl::StrCat(dir, "/relay", i, ".log");
      testing::Process::Options options;
      options.stdout_path = log;
      options.stderr_path = log;
      auto process = testing::Process::Start(
          binary, {"--port_file=" + port_file, "--to=" + to}, options);
      if (!process.ok()) return process.status();
      auto port = testing::WaitForPortFile(port_file, **process, log,
                                           absl::Seconds(30));
      if (!port.ok()) {
        return absl::Status(
            port.status().code(),
            absl::StrCat(binary, ": ", port.status().message()));
      }
      to = absl::StrCat("127.0.0.1:", *port);
      chain->relays_.push_back(*std::move(process));
    }
    chain->address_ = to;
    return chain;
  }

  ~RelayChain() {
    for (auto& relay : relays_) relay->Signal(SIGTERM);
    for (auto& relay : relays_) relay->Wait(absl::Seconds(5));
  }

  const std::string& address() const { return address_; }

 private:
  RelayChain() = default;

  std::vector<std::unique_ptr<testing::Process>> relays_;
  std::string address_;
};

// `n` events from the producer through `chain` to `sink`, at most `rate`
// per second (0: as fast as the window allows). Rate: events over the time
// from the first write to the last answer, like raw one-hop's; latency:
// the sink's.
absl::StatusOr<Result> RelayRun(const RelayChain& chain, LatencySink& sink,
                                int n, int bytes, int batch, int window,
                                int rate) {
  sink.Take();
  const absl::StatusOr<double> secs = ProduceToBridge(
      chain.address(), n, bytes, batch, window, rate, /*stamp=*/true);
  if (!secs.ok()) return secs.status();
  std::vector<int64_t> latencies = sink.Take();
  Result r;
  r.received = latencies.size();
  r.seconds = *secs;
  SetPercentiles(latencies, r);
  return r;
}

// The raw relay baseline, saturated then paced at `paced` events/s (0:
// not): prints its lines and returns its saturated rate (0 if it failed).
double RawRelayBaseline(int n, int bytes, int batch, int window, int paced,
                        double raw) {
  constexpr int kRelays = 3;
  LatencySink sink;
  auto server = RunningServer::Start(&sink);
  if (!server.ok()) {
    std::fprintf(stderr, "raw relay: %s\n", server.status().ToString().c_str());
    return 0;
  }
  auto chain = RelayChain::Start((*server)->dial_address(), kRelays);
  if (!chain.ok()) {
    std::fprintf(stderr, "raw relay: cannot start the relays: %s\n",
                 chain.status().ToString().c_str());
    return 0;
  }
  // Every relay connects to the next on its first stream: not measured.
  if (auto warm = RelayRun(**chain, sink, batch, bytes, batch, 1, 0);
      !warm.ok()) {
    std::fprintf(stderr, "raw relay: %s\n", warm.status().ToString().c_str());
    return 0;
  }
  const auto cpu_before = CpuByGroup();
  auto full = RelayRun(**chain, sink, n, bytes, batch, window, 0);
  const auto cpu_after = CpuByGroup();  // while the relays still run
  if (!full.ok()) {
    std::fprintf(stderr, "raw relay: %s\n", full.status().ToString().c_str());
    return 0;
  }
  const double rate = n / full->seconds;
  std::printf(
      "raw relay producer->relay->relay->relay->sink (%d processes, no "
      "parsing): %.0f events/s = %.2fx raw one-hop; latency at saturation "
      "%s\n",
      kRelays, rate, raw > 0 ? rate / raw : 0.0, full->Percentiles().c_str());
  PrintCpu(cpu_before, cpu_after, n);
  if (paced > 0) {
    const int m = paced * 3;
    auto light = RelayRun(**chain, sink, m, bytes, batch, window, paced);
    if (light.ok()) {
      std::printf("raw relay at %d events/s: latency %s\n", paced,
                  light->Percentiles().c_str());
    } else {
      std::fprintf(stderr, "raw relay at %d events/s: %s\n", paced,
                   light.status().ToString().c_str());
    }
  }
  return rate;
}

// ---- --profile: perf record on the services ----

// One `perf record` per profiled process, from Start to Stop; then the top
// of each profile. What fails is said on stdout and skipped: profiling never
// stops the benchmark.
class Profiler {
 public:
  static constexpr char kPerf[] = "/usr/bin/perf";

  // Starts recording each (name, pid) into DIR/<name>.perf.data; null
  // (having said why) when nothing could be started.
  static std::unique_ptr<Profiler> Start(
      std::string dir, const std::vector<std::pair<std::string, pid_t>>& pids) {
    if (const char* cwd = std::getenv("BUILD_WORKING_DIRECTORY");
        cwd != nullptr && !dir.empty() && dir[0] != '/') {
      dir = absl::StrCat(cwd, "/", dir);  // as given to `bazel run`
    }
    if (access(kPerf, X_OK) != 0) {
      std::printf(
          "profile: %s not found (Debian: apt-get install linux-perf); "
          "running without profiles\n",
          kPerf);
      return nullptr;
    }
    std::error_code error;
    std::filesystem::create_directories(dir, error);
    if (error) {
      std::printf("profile: cannot create %s: %s; running without profiles\n",
                  dir.c_str(), error.message().c_str());
      return nullptr;
    }
    auto profiler = std::unique_ptr<Profiler>(new Profiler(dir));
    for (const auto& [name, pid] : pids) {
      Recording r;
      r.name = name;
      r.pid = pid;
      r.data = absl::StrCat(dir, "/", name, ".perf.data");
      r.log = absl::StrCat(dir, "/", name, ".perf.log");
      std::remove(r.log.c_str());
      testing::Process::Options options;
      options.stdout_path = r.log;
      options.stderr_path = r.log;
      auto perf = testing::Process::Start(
          kPerf,
          {"record", "-F", "499", "-g", "--call-graph", "dwarf,16384", "-p",
           absl::StrCat(pid), "-o", r.data},
          options);
      if (!perf.ok()) {
        std::printf("profile: cannot start perf for %s: %s\n", name.c_str(),
                    perf.status().ToString().c_str());
        continue;
      }
      r.perf = *std::move(perf);
      profiler->recordings_.push_back(std::move(r));
    }
    // perf takes a moment to attach, or to fail (perf_event_paranoid).
    absl::SleepFor(absl::Milliseconds(500));
    for (Recording& r : profiler->recordings_) {
      if (!r.perf->running()) {
        std::printf(
            "profile: perf record on %s (pid %d) exited at once with %d "
            "(kernel.perf_event_paranoid = %s); its output:\n%s",
            r.name.c_str(), r.pid, r.perf->Wait(absl::ZeroDuration()).value(),
            std::string(absl::StripAsciiWhitespace(testing::ReadFile(
                            "/proc/sys/kernel/perf_event_paranoid")))
                .c_str(),
            Indent(testing::ReadFile(r.log), 12).c_str());
        r.perf.reset();
      }
    }
    if (std::none_of(profiler->recordings_.begin(), profiler->recordings_.end(),
                     [](const Recording& r) { return r.perf != nullptr; })) {
      std::printf("profile: no perf record running; no profiles\n");
      return nullptr;
    }
    std::printf(
        "profile: perf record (-F 499, dwarf call graphs) on the services "
        "during the saturated pipeline run; perf's CPU slows it down\n");
    return profiler;
  }

  // Stops the recorders (SIGINT) and waits for them to write their files.
  void Stop() {
    for (Recording& r : recordings_) {
      if (r.perf != nullptr) r.perf->Signal(SIGINT);
    }
    for (Recording& r : recordings_) {
      if (r.perf == nullptr) continue;
      if (!r.perf->Wait(absl::Minutes(2)).has_value()) {
        std::printf("profile: perf record on %s did not stop; killed\n",
                    r.name.c_str());
      }
      r.perf.reset();  // kills it if still running
      std::error_code error;
      r.ok = std::filesystem::file_size(r.data, error) > 0 && !error;
      if (!r.ok) {
        std::printf("profile: perf record on %s wrote nothing; its output:\n%s",
                    r.name.c_str(),
                    Indent(testing::ReadFile(r.log), 12).c_str());
      }
    }
  }

  // Prints the top of each profile, where the files are and how to
  // explore them.
  void Report() {
    const std::vector<std::string> report_args = {
        "--no-children", "--sort", "dso,sym", "--percentage",
        "relative",      "-g",     "none",    "--stdio"};
    std::string explore;
    for (const Recording& r : recordings_) {
      if (!r.ok) continue;
      const std::string text = absl::StrCat(dir_, "/", r.name, ".report.txt");
      const std::string log = absl::StrCat(dir_, "/", r.name, ".report.log");
      std::remove(text.c_str());
      std::remove(log.c_str());
      testing::Process::Options options;
      options.stdout_path = text;
      options.stderr_path = log;
      std::vector<std::string> args = {"report", "-i", r.data};
      args.insert(args.end(), report_args.begin(), report_args.end());
      auto perf = testing::Process::Start(kPerf, args, options);
      std::optional<int> code;
      if (perf.ok()) code = (*perf)->Wait(absl::Minutes(10));
      if (!code.has_value() || *code != 0) {
        std::printf("profile: perf report on %s failed; its output:\n%s",
                    r.data.c_str(), Indent(testing::ReadFile(log), 12).c_str());
        continue;
      }
      // "# Samples: 1K of event 'cpu-clock:ppp'", then the top lines.
      std::string samples;
      std::vector<std::string> top;
      std::istringstream in(testing::ReadFile(text));
      for (std::string line; std::getline(in, line) && top.size() < 25;) {
        if (absl::StartsWith(line, "# Samples:")) {
          samples = std::string(absl::StripPrefix(line, "# Samples: "));
        }
        if (line.empty() || line[0] == '#') continue;
        top.push_back(line);
      }
      std::printf(
          "profile of %s (pid %d; %s), top of `perf report "
          "--no-children --sort dso,sym`:\n",
          r.name.c_str(), r.pid, samples.c_str());
      for (const std::string& line : top) std::printf("  %s\n", line.c_str());
      absl::StrAppend(&explore, explore.empty() ? "" : ", ", r.data);
    }
    if (explore.empty()) return;
    std::printf(
        "profiles: %s (full reports beside them, <service>.report.txt); "
        "explore with\n  perf report -i %s/<service>.perf.data --no-children "
        "--sort dso,sym\n  (call graphs: -g caller; annotated code: perf "
        "annotate -i FILE SYMBOL)\n",
        explore.c_str(), dir_.c_str());
  }

 private:
  struct Recording {
    std::string name;
    pid_t pid = 0;
    std::string data;
    std::string log;
    std::unique_ptr<testing::Process> perf;
    bool ok = false;
  };

  explicit Profiler(std::string dir) : dir_(std::move(dir)) {}

  // `text`'s non-empty lines, at most `max_lines`, each indented.
  static std::string Indent(const std::string& text, int max_lines) {
    std::string out;
    std::istringstream in(text);
    int lines = 0;
    for (std::string line; std::getline(in, line) && lines < max_lines;) {
      if (absl::StripAsciiWhitespace(line).empty()) continue;
      absl::StrAppend(&out, "    ", line, "\n");
      ++lines;
    }
    return out;
  }

  const std::string dir_;
  std::vector<Recording> recordings_;
};

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
