#include "tests/bench/pipeline_clients.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "switchboard/v1/broadcaster.grpc.pb.h"
#include "switchboard/v1/consumer.grpc.pb.h"

namespace switchboard::bench {

using switchboard::v1::Event;

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

Result Measure(const std::string& consumer, int n, int credit,
               const std::function<void()>& produce, bool only_this_run) {
  auto stub = switchboard::v1::Consumer::NewStub(
      grpc::CreateChannel(consumer, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  auto stream = stub->Subscribe(&context);
  switchboard::v1::SubscribeRequest open;
  open.mutable_open()->add_queues(kBenchQueue);
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
  Result r;
  SetPercentiles(latencies, r);
  return {r.p50_ms, r.p99_ms};
}

}  // namespace switchboard::bench
