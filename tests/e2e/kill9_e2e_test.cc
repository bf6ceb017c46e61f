// kill -9 under load, counted: real bridge, broadcaster and consumer (and
// on the rabbitmq path a real rabbitmq-server), producers that resend what
// was not answered with the same ids, an app that acks what it gets, and a
// seeded random schedule of kill -9s, SIGSTOPs and cut links. At the end
// every event an answer accepted must have reached the app, once.
//
// Knobs (environment; tools/kill9.sh sets them for the long run):
//   KILL9_SEED      the schedule's seed (printed by every run)
//   KILL9_SECONDS   how long faults are injected (default: short, for CI)
//   KILL9_RATE      events per second per producer (default 400)
//   KILL9_PRODUCERS producers, each its own source and app queue (2)
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "tests/testing/blackhole_proxy.h"
#include "tests/testing/cluster.h"
#include "tests/testing/delivery_ledger.h"
#include "tests/testing/fault_schedule.h"
#include "tests/testing/rabbitmq_server.h"
#include "tests/testing/resilient_clients.h"

namespace switchboard::testing {
namespace {

using switchboard::v1::Acceptance;

// One way of running the suite. A "BUFFERED + disk buffer" mode is one
// more of these: acceptance BUFFERED and the buffer's section in
// broadcaster_yaml (e.g. "buffer:\n  type: disk\n  path: ...\n").
struct Mode {
  std::string name;
  bool rabbitmq = false;
  Acceptance acceptance = switchboard::v1::CONFIRMED;
  // Appended to the broadcaster's config; $BUFFER_DIR is a fresh
  // directory.
  std::string broadcaster_yaml;
  // Appended to the consumer's config; $DEDUP_DIR is a fresh directory.
  std::string consumer_yaml;
  std::vector<std::string> killable;
  std::vector<std::string> pausable;
  std::vector<std::string> links;
  absl::Duration duration;  // of the schedule, unless KILL9_SECONDS
  // Whether every accepted event must reach the app exactly once.
  bool exactly_once = true;
};

int EnvInt(const char* name, int fallback) {
  int value = 0;
  const char* text = std::getenv(name);
  return text != nullptr && absl::SimpleAtoi(text, &value) ? value : fallback;
}

// The end of a log, for failure messages.
std::string Tail(const std::string& text, size_t bytes = 3000) {
  return text.size() <= bytes ? text : text.substr(text.size() - bytes);
}

// Everything a run needs, started in order: broker, proxies, services.
class Kill9Run {
 public:
  explicit Kill9Run(const Mode& mode) : mode_(mode) {}

  absl::Status Start() {
    if (mode_.rabbitmq) {
      auto broker = RabbitMqServer::Start();
      if (!broker.ok()) return broker.status();
      broker_ = *std::move(broker);
    }
    // The bridge listens on a port chosen here, so the proxies in front of
    // it exist before anything connects.
    const int bridge_port = PickFreePort();
    for (auto* proxy : {&producer_link_, &consumer_link_}) {
      auto started = BlackholeProxy::Start(bridge_port);
      if (!started.ok()) return started.status();
      *proxy = *std::move(started);
    }
    Cluster::Options options;
    options.bridge_yaml = absl::StrCat("listen: 127.0.0.1:", bridge_port, "\n");
    if (mode_.rabbitmq) {
      absl::StrAppend(&options.bridge_yaml,
                      "transport:\n"
                      "  driver: rabbitmq\n"
                      "  rabbitmq:\n"
                      "    port: ",
                      broker_->amqp_port(),
                      "\n"
                      "    exchange: kill9\n"
                      "    reconnect_initial: 50ms\n"
                      "    reconnect_max: 500ms\n");
    }
    options.broadcaster_yaml = absl::StrCat(
        "listen: 127.0.0.1:0\n"
        "bridge:\n"
        "  address: 127.0.0.1:",
        producer_link_->port(),
        "\n"
        "  backoff_initial: 20ms\n"
        "  backoff_max: 200ms\n"
        "routing:\n"
        "  verbose_queue: ''\n"
        "  app_queue_prefix: kill9.app.\n",
        absl::StrReplaceAll(mode_.broadcaster_yaml,
                            {{"$BUFFER_DIR", NewTempDir("kill9-buffer")}}));
    options.consumer_yaml = absl::StrCat(
        "listen: 127.0.0.1:0\n"
        "bridge:\n"
        "  address: 127.0.0.1:",
        consumer_link_->port(), "\n",
        absl::StrReplaceAll(mode_.consumer_yaml,
                            {{"$DEDUP_DIR", NewTempDir("kill9-dedup")}}));
    auto cluster = Cluster::Start(options);
    if (!cluster.ok()) return cluster.status();
    cluster_ = *std::move(cluster);
    AddTargets();
    return absl::OkStatus();
  }

  Cluster& cluster() { return *cluster_; }
  FaultTargets& targets() { return targets_; }

  // The services' and broker's state, for failure messages.
  std::string Logs() {
    std::string out;
    for (const char* service : {"broadcaster", "bridge", "consumer"}) {
      absl::StrAppend(&out, "\n--- ", service, " (end of log):\n",
                      Tail(cluster_->Log(service)));
    }
    absl::StrAppend(&out, "\n--- links: producer accepted ",
                    producer_link_->accepted_connections(), ", consumer ",
                    consumer_link_->accepted_connections());
    return out;
  }

 private:
  static void KillAndReap(Process& p) {
    p.Signal(SIGKILL);
    p.Wait(absl::Seconds(10));
  }

  void AddTargets() {
    Cluster* c = cluster_.get();
    targets_.AddProcess("broadcaster",
                        {[c] { KillAndReap(c->broadcaster()); },
                         [c] { return c->StartBroadcaster(); },
                         [c](int signal) { c->broadcaster().Signal(signal); }});
    targets_.AddProcess(
        "bridge",
        {[c] { KillAndReap(c->bridge()); }, [c] { return c->StartBridge(); },
         [c](int signal) { c->bridge().Signal(signal); }});
    targets_.AddProcess("consumer",
                        {[c] { KillAndReap(c->consumer()); },
                         [c] { return c->StartConsumer(); },
                         [c](int signal) { c->consumer().Signal(signal); }});
    if (broker_ != nullptr) {
      // Restart keeps the node name, ports and data directory: durable
      // queues and persistent messages survive.
      RabbitMqServer* b = broker_.get();
      targets_.AddProcess("rabbitmq", {[b] { b->Kill(); },
                                       [b] { return b->Restart(); }, nullptr});
    }
    targets_.AddLink("broadcaster-bridge", producer_link_.get());
    targets_.AddLink("consumer-bridge", consumer_link_.get());
  }

  const Mode mode_;
  std::unique_ptr<RabbitMqServer> broker_;
  std::unique_ptr<BlackholeProxy> producer_link_;
  std::unique_ptr<BlackholeProxy> consumer_link_;
  std::unique_ptr<Cluster> cluster_;
  FaultTargets targets_;
};

// Runs `mode` and returns what the app saw of what was accepted.
DeliveryLedger::Tally RunMode(const Mode& mode) {
  const uint64_t seed = SeedFromEnv("KILL9_SEED");
  FaultScheduleOptions schedule_options;
  schedule_options.duration = absl::Seconds(
      EnvInt("KILL9_SECONDS", absl::ToInt64Seconds(mode.duration)));
  schedule_options.killable = mode.killable;
  schedule_options.pausable = mode.pausable;
  schedule_options.links = mode.links;
  schedule_options.kill_at_least_once = mode.killable;
  const std::vector<Fault> schedule =
      RandomFaultSchedule(seed, schedule_options);
  std::cout << "kill9 " << mode.name << " seed=" << seed
            << " (KILL9_SEED=" << seed << " replays it), " << schedule.size()
            << " faults over " << FormatDuration(schedule_options.duration)
            << std::endl;
  const std::string replay = absl::StrCat("mode ", mode.name, " seed ", seed);

  Kill9Run run(mode);
  absl::Status started = run.Start();
  EXPECT_TRUE(started.ok()) << started;
  if (!started.ok()) return {};

  DeliveryLedger ledger;
  const int producers = EnvInt("KILL9_PRODUCERS", 2);
  std::vector<std::unique_ptr<ResendingProducer>> senders;
  std::vector<std::string> queues;
  for (int i = 0; i < producers; ++i) {
    ResendingProducer::Options o;
    o.address = run.cluster().broadcaster_address();
    o.source = absl::StrCat("kill9/p", i);
    o.id_prefix = absl::StrCat("p", i, "-");
    o.acceptance = mode.acceptance;
    o.events_per_second = EnvInt("KILL9_RATE", 400);
    senders.push_back(std::make_unique<ResendingProducer>(o, &ledger));
    queues.push_back(absl::StrCat("kill9.app.kill9.p", i));
  }
  ResubscribingApp::Options app_options;
  app_options.address = run.cluster().consumer_address();
  app_options.queues = queues;
  ResubscribingApp app(app_options, &ledger);

  absl::Status faults = RunFaultSchedule(schedule, run.targets(), std::cout);
  EXPECT_TRUE(faults.ok()) << replay << ": " << faults << run.Logs();

  // Faults stop; every process runs and every link forwards. Producers
  // finish what they have, then the app drains.
  auto summaries = [&] {
    std::string out;
    for (auto& s : senders) absl::StrAppend(&out, "\n", s->Summary());
    return absl::StrCat(out, "\n", app.Summary());
  };
  const absl::Time faults_over = absl::Now();
  for (auto& s : senders) s->StopProducing();
  for (auto& s : senders) {
    bool answered = s->AwaitAllAnswered(absl::Seconds(90));
    EXPECT_TRUE(answered) << replay << ": batches still unanswered"
                          << summaries() << run.Logs();
  }
  auto since_faults = [&] {
    return absl::FormatDuration(
        absl::Trunc(absl::Now() - faults_over, absl::Milliseconds(1)));
  };
  std::cout << "all answered at +" << since_faults() << std::endl;
  bool drained = Eventually([&] { return ledger.AllAcceptedReceived(); },
                            absl::Seconds(mode.exactly_once ? 90 : 15));
  std::cout << "all accepted received at +" << since_faults() << std::endl;
  // Nothing is left in the queues (late duplicates would be in there).
  bool empty = Eventually(
      [&] {
        for (const auto& q : queues) {
          uint64_t depth = run.cluster().QueueDepth(q);
          if (depth != 0 && depth != Cluster::kNoQueue) return false;
        }
        return true;
      },
      absl::Seconds(mode.exactly_once ? 30 : 5));
  std::cout << "queues empty at +" << since_faults() << std::endl;
  DeliveryLedger::Tally tally = ledger.Count();
  std::cout << "kill9 " << mode.name << " seed=" << seed << " " << tally.Line()
            << std::endl;
  std::cout << tally.Details() << summaries() << std::endl;
  if (mode.exactly_once) {
    std::string schedule_text;
    for (const Fault& f : schedule) {
      absl::StrAppend(&schedule_text, "\n  ", f.ToString());
    }
    EXPECT_TRUE(drained && empty)
        << replay
        << ": the app did not get every accepted event: " << tally.Details()
        << summaries() << run.Logs();
    EXPECT_EQ(tally.lost, 0u) << replay << ": " << tally.Details()
                              << "\nschedule:" << schedule_text << run.Logs();
    // Even a repeat flagged `redelivered` fails: the app names what it
    // processed when it subscribes again (SubscribeOpen.acked), so an ack
    // lost with its consumer or bridge call costs no second copy.
    EXPECT_EQ(tally.duplicated, 0u)
        << replay << ": " << tally.Details() << "\nschedule:" << schedule_text
        << run.Logs();
  }
  EXPECT_GT(tally.accepted, 0u) << replay << summaries() << run.Logs();
  return tally;
}

const std::vector<std::string> kServices = {"broadcaster", "bridge",
                                            "consumer"};
const std::vector<std::string> kLinks = {"broadcaster-bridge",
                                         "consumer-bridge"};
// The consumer's duplicate window on disk: what apps acked survives a
// kill -9 of the consumer (README, "Across consumer restarts").
constexpr char kDedupOnDisk[] =
    "dedup:\n"
    "  store: file\n"
    "  directory: $DEDUP_DIR\n";

// CONFIRMED on rabbitmq (durable queues, persistent messages): whatever
// is killed, paused or cut, nothing accepted is lost or seen twice.
// A rabbitmq mode where every fault may strike: kill -9 of the services
// and the broker, SIGSTOP of the services, both links cut; the consumer
// keeps its duplicate window on disk.
Mode RabbitMqEveryFault(std::string name) {
  Mode mode;
  mode.name = std::move(name);
  mode.rabbitmq = true;
  mode.consumer_yaml = kDedupOnDisk;
  mode.killable = {"broadcaster", "bridge", "consumer", "rabbitmq"};
  mode.pausable = kServices;
  mode.links = kLinks;
  return mode;
}

TEST(Kill9Test, RabbitMqConfirmedLosesAndDuplicatesNothing) {
  Mode mode = RabbitMqEveryFault("rabbitmq-confirmed");
  mode.duration = absl::Seconds(25);
  RunMode(mode);
}

// BUFFERED with the disk buffer (fsync: batch): a kill -9 of the
// broadcaster loses nothing it answered as accepted; on rabbitmq nothing
// else does either.
TEST(Kill9Test, RabbitMqBufferedWithTheDiskBufferLosesNothing) {
  Mode mode = RabbitMqEveryFault("rabbitmq-buffered-disk");
  mode.acceptance = switchboard::v1::BUFFERED;
  mode.broadcaster_yaml =
      "buffer:\n  type: disk\n  disk:\n    path: $BUFFER_DIR\n"
      "    fsync: batch\n";
  mode.duration = absl::Seconds(20);
  RunMode(mode);
}

// On memory, the README promises survival of everything but the bridge:
// kill -9 of the broadcaster and the consumer, pauses and cut links lose
// nothing accepted with CONFIRMED.
TEST(Kill9Test, MemoryConfirmedSurvivesAllButTheBridge) {
  Mode mode;
  mode.name = "memory-confirmed";
  mode.consumer_yaml = kDedupOnDisk;
  mode.killable = {"broadcaster", "consumer"};
  mode.pausable = kServices;
  mode.links = kLinks;
  mode.duration = absl::Seconds(10);
  RunMode(mode);
}

// On memory a bridge restart loses what it held (README, "Delivery
// semantics"): printed, not asserted.
TEST(Kill9Test, MemoryBridgeKillLosesWhatItHeld) {
  Mode mode;
  mode.name = "memory-bridge-kill";
  mode.killable = {"bridge"};
  mode.duration = absl::Seconds(6);
  mode.exactly_once = false;
  RunMode(mode);
}

}  // namespace
}  // namespace switchboard::testing
