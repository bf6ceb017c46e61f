// The benchmark's clients of the real pipeline: a producer publishing to the
// broadcaster, a subscriber measuring what the consumer delivers, and the
// producer's view of an acceptance level. Each opens its own channel, so
// they may run on different threads at once.
#ifndef SWITCHBOARD_TESTS_BENCH_PIPELINE_CLIENTS_H_
#define SWITCHBOARD_TESTS_BENCH_PIPELINE_CLIENTS_H_

#include <functional>
#include <string>
#include <utility>

#include "switchboard/v1/broadcaster.pb.h"
#include "switchboard/v1/event.pb.h"
#include "tests/bench/bench_common.h"

namespace switchboard::bench {

// The queue the benchmark's producer's events go to.
inline constexpr char kBenchQueue[] = "app.bench.producer";

// An event whose serialized form is about `bytes` long once the
// broadcaster has given it an id.
switchboard::v1::Event Template(int bytes);

// Publishes `n` events to the broadcaster at `address` in batches of
// `batch` with `window` batches unanswered at most, at most `rate` per
// second (0: as fast as the window allows), each stamped with its send time.
void Produce(const std::string& address, int n, int bytes, int batch,
             int window, int rate);

// Subscribes to kBenchQueue at the consumer at `consumer` with `credit`,
// then runs `produce`, until `n` events arrived; acks every response and
// ends with `close`. Latency is arrival time minus the producer's stamp;
// with `only_this_run`, events stamped before the call are acked and not
// measured.
Result Measure(const std::string& consumer, int n, int credit,
               const std::function<void()>& produce, bool only_this_run = true);

// The producer's view of one acceptance level: `batches` batches of
// `batch` events, one at a time, the time from writing each to its answer;
// {p50, p99} in ms.
std::pair<double, double> AnswerLatency(const std::string& address,
                                        switchboard::v1::Acceptance level,
                                        int batches, int batch, int bytes);

}  // namespace switchboard::bench

#endif  // SWITCHBOARD_TESTS_BENCH_PIPELINE_CLIENTS_H_
