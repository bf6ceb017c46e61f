// Steady-load soak: the three real services (memory transport by default;
// --disk_buffer puts the broadcaster's buffer on disk) under a constant
// publish rate for --duration, with one subscriber acking everything. Prints
// RSS, open fds and threads of each service at the start, every
// --report_every and at the end, and what was sent and received. Run by
// tools/soak.sh --steady (not by CI: it takes minutes). Nothing is asserted
// on timings; it exits 1 only if a service died or the subscriber got
// fewer events than were accepted once the load stopped.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "switchboard/v1/broadcaster.grpc.pb.h"
#include "switchboard/v1/consumer.grpc.pb.h"
#include "tests/soak/usage.h"
#include "tests/testing/cluster.h"

ABSL_FLAG(absl::Duration, duration, absl::Minutes(10), "How long to publish.");
ABSL_FLAG(int, rate, 2000, "Events per second.");
ABSL_FLAG(int, event_bytes, 256, "Payload bytes per event.");
ABSL_FLAG(absl::Duration, report_every, absl::Minutes(1),
          "How often to print the services' usage.");
ABSL_FLAG(bool, disk_buffer, false,
          "The broadcaster's buffer on disk (buffer.type: disk), in the run's "
          "directory.");

namespace switchboard::testing {
namespace {

constexpr char kSource[] = "soak/steady";
constexpr char kQueue[] = "app.soak.steady";

// Publishes `rate` events per second in batches of rate/10, until `stop`.
// Counts accepted events.
void Produce(const std::string& address, int rate, int bytes,
             const std::atomic<bool>& stop, std::atomic<uint64_t>* accepted) {
  auto stub = v1::Broadcaster::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  auto stream = stub->Publish(&context);
  std::thread reader([&] {
    v1::PublishResponse r;
    while (stream->Read(&r)) *accepted += r.accepted();
  });
  const int per_batch = std::max(1, rate / 10);
  const absl::Time start = absl::Now();
  for (uint64_t batch = 0; !stop.load(); ++batch) {
    const absl::Time due = start + absl::Milliseconds(100) * batch;
    if (absl::Now() < due) absl::SleepFor(due - absl::Now());
    v1::PublishRequest request;
    request.set_batch_id(batch + 1);
    for (int i = 0; i < per_batch; ++i) {
      v1::Event* e = request.add_events();
      e->set_source(kSource);
      e->set_type("soak.event");
      e->set_binary_data(std::string(bytes, 'x'));
    }
    if (!stream->Write(request)) break;
  }
  stream->WritesDone();
  reader.join();
  (void)stream->Finish();
}

// Acks everything from kQueue, counting it, until `stop`.
void Subscribe(const std::string& address, const std::atomic<bool>& stop,
               std::atomic<uint64_t>* received) {
  auto stub = v1::Consumer::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  while (!stop.load()) {
    grpc::ClientContext context;
    auto stream = stub->Subscribe(&context);
    v1::SubscribeRequest open;
    open.mutable_open()->add_queues(kQueue);
    open.mutable_open()->set_credit(1000);
    if (!stream->Write(open)) continue;
    std::thread watch([&] {
      while (!stop.load()) absl::SleepFor(absl::Milliseconds(100));
      context.TryCancel();
    });
    v1::SubscribeResponse response;
    while (stream->Read(&response)) {
      v1::SubscribeRequest ack;
      for (const auto& d : response.deliveries()) {
        ack.mutable_ack()->add_tags(d.tag());
      }
      *received += response.deliveries_size();
      if (!stream->Write(ack)) break;
    }
    (void)stream->Finish();
    watch.join();
  }
}

int Run() {
  Cluster::Options options;
  if (absl::GetFlag(FLAGS_disk_buffer)) {
    const std::string dir = NewTempDir("switchboard-soak");
    std::printf("disk buffer in %s (left for inspection)\n", dir.c_str());
    options.broadcaster_yaml += absl::StrCat(
        "buffer:\n  type: disk\n  disk:\n    path: ", dir, "/buffer\n");
  }
  auto cluster = Cluster::Start(options);
  if (!cluster.ok()) {
    std::fprintf(stderr, "%s\n", cluster.status().ToString().c_str());
    return 1;
  }
  Cluster& c = **cluster;
  // The app queue exists before the subscriber attaches.
  (void)Publish(c.broadcaster_address(), MakeEvents(kSource, "warm", 1));
  std::atomic<uint64_t> accepted{1}, received{0};
  std::atomic<bool> stop_producing{false}, stop_subscribing{false};
  std::thread subscriber(
      [&] { Subscribe(c.consumer_address(), stop_subscribing, &received); });
  const int rate = absl::GetFlag(FLAGS_rate);
  std::printf("steady soak: %d events/s of %d bytes for %s (%s buffer)\n", rate,
              absl::GetFlag(FLAGS_event_bytes),
              absl::FormatDuration(absl::GetFlag(FLAGS_duration)).c_str(),
              absl::GetFlag(FLAGS_disk_buffer) ? "disk" : "memory");
  Print("start", c);
  std::thread producer([&] {
    Produce(c.broadcaster_address(), rate, absl::GetFlag(FLAGS_event_bytes),
            stop_producing, &accepted);
  });
  const absl::Time end = absl::Now() + absl::GetFlag(FLAGS_duration);
  while (absl::Now() < end) {
    absl::SleepFor(
        std::min(absl::GetFlag(FLAGS_report_every), end - absl::Now()));
    std::printf("accepted %lu, received %lu\n",
                static_cast<unsigned long>(accepted.load()),
                static_cast<unsigned long>(received.load()));
    Print(absl::Now() < end ? "running" : "end", c);
  }
  stop_producing = true;
  producer.join();
  // Bounded: what was accepted arrives.
  const bool all = Eventually(
      [&] { return received.load() >= accepted.load(); }, absl::Minutes(2));
  stop_subscribing = true;
  subscriber.join();
  std::printf("accepted %lu, received %lu\n",
              static_cast<unsigned long>(accepted.load()),
              static_cast<unsigned long>(received.load()));
  Print("drained", c);
  int failures = all ? 0 : 1;
  for (auto [name, p] : Services(c)) {
    if (kill(p->pid(), 0) != 0) {
      std::printf("FAIL: %s died\n", name);
      ++failures;
    }
  }
  std::printf("%s\n",
              failures == 0 ? "steady soak: ok" : "steady soak: FAILED");
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace switchboard::testing

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return switchboard::testing::Run();
}
