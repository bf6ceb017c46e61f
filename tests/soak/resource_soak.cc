// Resource soak: hostile-but-legal load against the three real services
// (memory transport), with RSS, open fds and threads of each printed before
// and after. Run by tools/soak.sh (not by CI: it takes minutes); it exits 1
// when a service died or grew past --max_rss_growth_mib.
//
//   1. a subscriber that never acks (its credit fills, then nothing more);
//   2. --streams Subscribe streams held open at once, then closed;
//   3. --names distinct sources, link ids and region names (each would be a
//      queue: routing.max_dynamic_queues caps them).
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "switchboard/v1/consumer.grpc.pb.h"
#include "tests/soak/usage.h"
#include "tests/testing/cluster.h"

ABSL_FLAG(int, streams, 10000, "Subscribe streams held open at once.");
ABSL_FLAG(int, names, 100000,
          "Distinct sources, link ids and region names published.");
ABSL_FLAG(int, max_rss_growth_mib, 512,
          "A service whose RSS grows more than this fails the soak.");

namespace switchboard::testing {
namespace {

using switchboard::v1::Event;

int Run() {
  Cluster::Options options;
  auto cluster = Cluster::Start(options);
  if (!cluster.ok()) {
    std::fprintf(stderr, "%s\n", cluster.status().ToString().c_str());
    return 1;
  }
  Cluster& c = **cluster;
  // Warm up: the verbose queue exists and every path ran once.
  (void)Publish(c.broadcaster_address(), MakeEvents("soak/warm", "t", 100));
  Print("before", c);
  const Usage bridge0 = Measure(c.bridge().pid());
  const Usage broadcaster0 = Measure(c.broadcaster().pid());
  const Usage consumer0 = Measure(c.consumer().pid());

  // 1. A subscriber that never acks, while 50,000 events arrive.
  auto lazy = Subscriber::Open(c.consumer_address(), {"verbose"}, 100, false);
  (void)Publish(c.broadcaster_address(), MakeEvents("soak/lazy", "t", 50000));
  std::printf("never-acking subscriber holds %zu deliveries\n",
              lazy.ok() ? (*lazy)->WaitFor(100).size() : 0);

  // 2. Many open streams, then all closed. A connection carries at most
  // limits.max_concurrent_streams (100) streams: 100 per channel, each
  // channel its own connection.
  struct Stream {
    grpc::ClientContext context;
    std::unique_ptr<
        grpc::ClientReaderWriter<v1::SubscribeRequest, v1::SubscribeResponse>>
        rw;
  };
  std::vector<std::unique_ptr<v1::Consumer::Stub>> stubs;
  std::vector<std::unique_ptr<Stream>> open;
  for (int i = 0; i < absl::GetFlag(FLAGS_streams); ++i) {
    if (i % 100 == 0) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      stubs.push_back(v1::Consumer::NewStub(grpc::CreateCustomChannel(
          c.consumer_address(), grpc::InsecureChannelCredentials(), args)));
    }
    auto s = std::make_unique<Stream>();
    s->rw = stubs.back()->Subscribe(&s->context);
    v1::SubscribeRequest request;
    request.mutable_open()->add_queues("verbose");
    request.mutable_open()->set_credit(1);
    if (!s->rw->Write(request)) {
      std::printf("stream %d refused\n", i);
      break;
    }
    open.push_back(std::move(s));
  }
  std::printf("%zu streams open\n", open.size());
  Print("open", c);
  for (auto& s : open) s->context.TryCancel();
  for (auto& s : open) (void)s->rw->Finish();
  open.clear();
  stubs.clear();

  // 3. Distinct names: each would make a queue (or region state).
  const int names = absl::GetFlag(FLAGS_names);
  std::vector<Event> events;
  for (int i = 0; i < names; ++i) {
    Event& e = events.emplace_back();
    e.set_source(absl::StrCat("soak/src", i));
    e.set_type("t");
    if (i % 3 == 1) {
      e.mutable_link_status()->set_link_id(absl::StrCat("link", i));
      e.mutable_link_status()->set_state(v1::LinkStatus::DOWN);
    } else if (i % 3 == 2) {
      e.mutable_heartbeat()->set_region(absl::StrCat("r", i));
    }
  }
  auto answers = Publish(c.broadcaster_address(), std::move(events), 1000);
  uint64_t accepted = 0, rejected = 0;
  if (answers.ok()) {
    for (const auto& a : *answers) {
      accepted += a.accepted();
      rejected += a.rejections_size();
    }
  }
  std::printf("%d distinct names: %lu accepted, %lu rejected\n", names,
              static_cast<unsigned long>(accepted),
              static_cast<unsigned long>(rejected));
  if (lazy.ok()) (*lazy)->Cancel();
  Print("after", c);

  int failures = 0;
  const int64_t limit = int64_t{absl::GetFlag(FLAGS_max_rss_growth_mib)} * 1024;
  for (auto [name, p, before] :
       {std::tuple<const char*, Process*, Usage>{"bridge", &c.bridge(),
                                                 bridge0},
        {"broadcaster", &c.broadcaster(), broadcaster0},
        {"consumer", &c.consumer(), consumer0}}) {
    if (kill(p->pid(), 0) != 0) {
      std::printf("FAIL: %s died\n", name);
      ++failures;
      continue;
    }
    const Usage now = Measure(p->pid());
    if (now.rss_kib - before.rss_kib > limit) {
      std::printf("FAIL: %s grew %ld KiB\n", name,
                  static_cast<long>(now.rss_kib - before.rss_kib));
      ++failures;
    }
  }
  std::printf("%s\n", failures == 0 ? "soak: bounded" : "soak: FAILED");
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace switchboard::testing

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return switchboard::testing::Run();
}
