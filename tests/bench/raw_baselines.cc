#include "tests/bench/raw_baselines.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "services/common/bidi_stream.h"
#include "services/common/server.h"
#include "services/mq-bridge/transport/rabbitmq/amqp_connection.h"
#include "switchboard/v1/bridge.grpc.pb.h"
#include "tests/bench/bench_common.h"
#include "tests/testing/process.h"

namespace switchboard::bench {

// ---- Raw baseline: one batched gRPC stream, one hop, answer per batch ----

namespace {

// A Bridge service that answers every Produce batch at once (gRPC and
// protobuf cost only); with `record`, it also keeps each event's latency:
// arrival minus its time_unix_nanos.
class SinkBridge final : public switchboard::v1::Bridge::CallbackService,
                         public ServiceBase {
 public:
  explicit SinkBridge(bool record) : record_(record) {}
  std::string listen_address() const override { return "127.0.0.1:0"; }
  std::vector<grpc::Service*> grpc_services() override { return {this}; }

  grpc::ServerBidiReactor<switchboard::v1::ProduceRequest,
                          switchboard::v1::ProduceResponse>*
  Produce(grpc::CallbackServerContext*) override {
    class Stream final : public BidiStream<switchboard::v1::ProduceRequest,
                                           switchboard::v1::ProduceResponse> {
     public:
      explicit Stream(SinkBridge* sink) : BidiStream(nullptr, 64), sink_(sink) {
        StartStream();
      }
      void OnRequest(switchboard::v1::ProduceRequest& r) override {
        sink_->Record(r);
        switchboard::v1::ProduceResponse answer;
        answer.set_batch_id(r.batch_id());
        writer()->Send(std::move(answer));
      }

     private:
      SinkBridge* const sink_;
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
    if (!record_) return;
    const int64_t now = NowNanos();
    absl::MutexLock lock(&mu_);
    for (const auto& e : r.events()) {
      latencies_.push_back(now - e.time_unix_nanos());
    }
  }

  const bool record_;
  absl::Mutex mu_;
  std::vector<int64_t> latencies_ ABSL_GUARDED_BY(mu_);
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
    WaitForTurn(start, sent, rate);
    slots.Acquire();
    switchboard::v1::ProduceRequest request;
    request.set_batch_id(sent);
    const int k = NextBatchSize(rate, batch, n - sent);
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

}  // namespace

double RawOneHopRate(int n, int bytes, int batch, int window) {
  SinkBridge service(/*record=*/false);
  auto server = RunningServer::Start(&service);
  if (!server.ok()) {
    std::fprintf(stderr, "raw one-hop: %s\n",
                 server.status().ToString().c_str());
    return 0;
  }
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

// ---- Raw relay baseline: the pipeline's shape with no application work ----

namespace {

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
absl::StatusOr<Result> RelayRun(const RelayChain& chain, SinkBridge& sink,
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

}  // namespace

double RawRelayBaseline(int n, int bytes, int batch, int window, int paced,
                        double raw) {
  constexpr int kRelays = 3;
  SinkBridge sink(/*record=*/true);
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

}  // namespace switchboard::bench
