// The benchmark's baselines (tests/bench/e2e_bench.cc): what the pipeline's
// rate and latency are compared with, measured in the same run on the same
// machine. Each runs to its end before it returns, with threads, servers and
// processes of its own that it stops before returning; run one at a time.
#ifndef SWITCHBOARD_TESTS_BENCH_RAW_BASELINES_H_
#define SWITCHBOARD_TESTS_BENCH_RAW_BASELINES_H_

namespace switchboard::bench {

// ---- Raw baseline: one batched gRPC stream, one hop, answer per batch ----

// `n` events of `bytes` on one Produce stream, in batches of `batch` with
// at most `window` unanswered, to a Bridge service in this process that
// answers every batch at once: gRPC and protobuf cost only. Returns events
// per second from the first write to the last answer; 0 if it failed (said
// on stderr).
double RawOneHopRate(int n, int bytes, int batch, int window);

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
// with acks running concurrently on one queue of the broker at
// 127.0.0.1:`port` (its own queue per `persistent` and `shape`, purged
// first); `n` messages of `bytes`, a durable queue and persistent messages
// with `persistent`. Returns messages per second from the first publish to
// the last confirm and delivery; 0 if it cannot connect (said on stderr).
double RawRabbitMqRate(int port, int n, int bytes, bool persistent,
                       Shape shape);

// ---- Raw relay baseline: the pipeline's shape with no application work ----

// producer -> relay -> relay -> relay -> sink: the producer (batches of
// `batch`, at most `window` unanswered) and a sink recording each event's
// latency in this process, 3 tests/bench:raw_relay processes between them.
// The relays are found through runfiles: a binary calling this needs
// data = ["//tests/bench:raw_relay"] (this library carries it). Runs `n`
// events saturated, then 3 s' worth paced at `paced` events/s (0: not);
// prints its lines (stdout; failures on stderr), comparing the saturated
// rate with `raw` (raw one-hop's, 0: unknown), and returns the saturated
// rate (0 if it failed).
double RawRelayBaseline(int n, int bytes, int batch, int window, int paced,
                        double raw);

}  // namespace switchboard::bench

#endif  // SWITCHBOARD_TESTS_BENCH_RAW_BASELINES_H_
