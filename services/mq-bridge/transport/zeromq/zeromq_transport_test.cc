// The zeromq driver over real sockets on loopback (tcp) and Linux abstract
// unix sockets (ipc://@name): the Transport contract, a network of
// publishers and subscribers, settings, overflow, duplicates and restarts.
#include "services/mq-bridge/transport/zeromq/zeromq_transport.h"

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <thread>

#include <zmq.h>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/mq-bridge/transport/conformance/delivery_collector.h"
#include "services/mq-bridge/transport/conformance/transport_conformance.h"
#include "services/mq-bridge/transport/registry.h"

namespace switchboard::bridge::zeromq {
namespace {

using ::switchboard::bridge::testing::DeliveryCollector;

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::TransportConformanceTest;

// Generous for a loaded 2-core machine; a passing run never waits this
// long.
constexpr absl::Duration kWait = absl::Seconds(20);

// A fresh abstract unix socket name: nothing to clean up.
std::string IpcEndpoint() {
  return absl::StrCat("ipc://@switchboard-zmq-test-",
                      absl::Uniform<uint64_t>(absl::BitGen()));
}

ZeroMqTransport::Settings Loopback() {
  ZeroMqTransport::Settings s;
  s.bind = "tcp://127.0.0.1:*";
  s.connect_timeout = kWait;
  return s;
}

std::unique_ptr<ZeroMqTransport> MustStart(ZeroMqTransport::Settings s) {
  auto t = ZeroMqTransport::Start(std::move(s));
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *std::move(t) : nullptr;
}

INSTANTIATE_TEST_SUITE_P(
    ZeroMq, TransportConformanceTest,
    ::testing::Values(
        testing::TransportUnderTest{"zeromq-tcp",
                                    [] { return MustStart(Loopback()); }},
        testing::TransportUnderTest{"zeromq-ipc",
                                    [] {
                                      ZeroMqTransport::Settings s = Loopback();
                                      s.bind = IpcEndpoint();
                                      return MustStart(s);
                                    }},
        // Every message through CURVE and the ZAP handler.
        testing::TransportUnderTest{"zeromq-curve", [] {
                                      ZeroMqTransport::Settings s = Loopback();
                                      char public_key[41], secret_key[41];
                                      zmq_curve_keypair(public_key, secret_key);
                                      s.curve.secret_key = secret_key;
                                      return MustStart(s);
                                    }}));

std::vector<std::string> Ids(const std::vector<Delivery>& deliveries) {
  std::vector<std::string> ids;
  for (const Delivery& d : deliveries) ids.push_back(d.id);
  return ids;
}

// Some payloads are large enough to go out without a copy.
std::string PayloadOf(const std::string& id, int i) {
  return absl::StrCat("payload-", id, std::string(i % 10 == 0 ? 4000 : 0, '.'));
}

absl::Status Publish(Transport& t, const std::string& queue,
                     const std::vector<std::string>& ids) {
  std::vector<OutgoingMessage> batch;
  for (size_t i = 0; i < ids.size(); ++i) {
    batch.push_back(OutgoingMessage{
        ids[i],
        std::make_shared<const std::string>(PayloadOf(ids[i], i)),
        {queue}});
  }
  absl::Notification done;
  absl::Status result;
  t.Publish(std::move(batch), [&](absl::Status s) {
    result = s;
    done.Notify();
  });
  if (!done.WaitForNotificationWithTimeout(kWait)) {
    return absl::DeadlineExceededError("never confirmed");
  }
  return result;
}

std::vector<std::string> Numbered(const std::string& prefix, int from, int to) {
  std::vector<std::string> ids;
  for (int i = from; i < to; ++i) ids.push_back(absl::StrCat(prefix, i));
  return ids;
}

bool Eventually(const std::function<bool()>& pred) {
  absl::Time deadline = absl::Now() + kWait;
  while (absl::Now() < deadline) {
    if (pred()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return pred();
}

TEST(ZeroMqNetworkTest, EverySubscriberGetsEveryEventOfEveryPublisherInOrder) {
  constexpr int kPublishers = 2;
  constexpr int kSubscribers = 3;
  constexpr int kEvents = 2000;
  const std::string queue = "app.kytos.topology";

  std::vector<std::unique_ptr<ZeroMqTransport>> publishers;
  std::vector<std::string> endpoints;
  for (int p = 0; p < kPublishers; ++p) {
    ZeroMqTransport::Settings s = Loopback();
    s.connect_self = false;  // publish only
    publishers.push_back(MustStart(s));
    ASSERT_NE(publishers.back(), nullptr);
    ASSERT_TRUE(publishers.back()->DeclareQueue(queue, {}).ok());
    endpoints.push_back(publishers.back()->endpoint());
  }
  EXPECT_NE(endpoints[0], endpoints[1]);
  EXPECT_THAT(endpoints[0], ::testing::StartsWith("tcp://127.0.0.1:"));

  std::vector<std::unique_ptr<ZeroMqTransport>> subscribers;
  std::vector<std::unique_ptr<DeliveryCollector>> collectors;
  std::vector<std::unique_ptr<Subscription>> subscriptions;
  for (int s = 0; s < kSubscribers; ++s) {
    ZeroMqTransport::Settings settings = Loopback();
    settings.connect_self = false;
    settings.connect = endpoints;
    subscribers.push_back(MustStart(settings));
    ASSERT_NE(subscribers.back(), nullptr);
    // Start() waited for both; this is what makes the test deterministic.
    ASSERT_TRUE(subscribers.back()->WaitForPublishers(kPublishers, kWait));
    ASSERT_TRUE(subscribers.back()->DeclareQueue(queue, {}).ok());
    collectors.push_back(std::make_unique<DeliveryCollector>());
    auto sub = subscribers.back()->Subscribe({{queue}, 65535},
                                             collectors.back()->handler());
    ASSERT_TRUE(sub.ok()) << sub.status();
    subscriptions.push_back(*std::move(sub));
  }

  // Both publishers at once, in batches, as a broadcaster would.
  std::vector<std::thread> threads;
  for (int p = 0; p < kPublishers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < kEvents; i += 100) {
        EXPECT_TRUE(Publish(*publishers[p], queue,
                            Numbered(absl::StrCat("p", p, "-"), i, i + 100))
                        .ok());
      }
    });
  }
  for (auto& t : threads) t.join();

  for (int s = 0; s < kSubscribers; ++s) {
    SCOPED_TRACE(absl::StrCat("subscriber ", s));
    std::vector<Delivery> got = collectors[s]->WaitFor(kPublishers * kEvents);
    ASSERT_EQ(got.size(), static_cast<size_t>(kPublishers * kEvents));
    // Exactly each publisher's 0..kEvents-1, in its order.
    std::map<int, int> next;
    for (const Delivery& d : got) {
      std::vector<std::string> parts = absl::StrSplit(d.id, '-');
      ASSERT_EQ(parts.size(), 2u) << d.id;
      int p = parts[0][1] - '0';
      int i = 0;
      ASSERT_TRUE(absl::SimpleAtoi(parts[1], &i)) << d.id;
      ASSERT_EQ(i, next[p]) << "subscriber " << s << " got " << d.id;
      next[p] = i + 1;
      EXPECT_EQ(*d.payload, PayloadOf(d.id, i));
      EXPECT_EQ(d.queue, queue);
    }
    EXPECT_EQ(next, (std::map<int, int>{{0, kEvents}, {1, kEvents}}));
    // Counters follow the buffers (and so the handlers) closely.
    EXPECT_TRUE(Eventually([&] {
      return subscribers[s]->counters().received == kPublishers * kEvents;
    })) << subscribers[s]->counters().received;
    ZeroMqTransport::Counters c = subscribers[s]->counters();
    EXPECT_EQ(c.lost, 0u);
    EXPECT_EQ(c.dropped, 0u);
    EXPECT_EQ(c.malformed, 0u);
  }
  for (const auto& p : publishers) {
    EXPECT_EQ(p->counters().sent, static_cast<uint64_t>(kEvents));
  }
}

TEST(ZeroMqNetworkTest, QueuesMatchWholeNamesNotTopicPrefixes) {
  auto publisher = MustStart(Loopback());
  ASSERT_NE(publisher, nullptr);
  ZeroMqTransport::Settings s = Loopback();
  s.connect_self = false;
  s.connect = {publisher->endpoint()};
  s.declare_on_receive = false;
  auto subscriber = MustStart(s);
  ASSERT_NE(subscriber, nullptr);
  ASSERT_TRUE(subscriber->DeclareQueue("app.x", {}).ok());
  ASSERT_TRUE(publisher->DeclareQueue("app.x", {}).ok());
  ASSERT_TRUE(publisher->DeclareQueue("app.xy", {}).ok());

  ASSERT_TRUE(Publish(*publisher, "app.xy", Numbered("xy", 0, 5)).ok());
  ASSERT_TRUE(Publish(*publisher, "app.x", Numbered("x", 0, 3)).ok());
  DeliveryCollector c;
  auto sub = subscriber->Subscribe({{"app.x"}, 100}, c.handler());
  ASSERT_TRUE(sub.ok());
  EXPECT_THAT(Ids(c.WaitFor(3)), ElementsAre("x0", "x1", "x2"));
  // app.xy was received and dropped: not declared there.
  ASSERT_TRUE(Eventually([&] { return subscriber->counters().unrouted == 5; }))
      << subscriber->counters().unrouted;
  EXPECT_EQ(subscriber->GetQueueStats({"app.xy"}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(c.size(), 3u);
}

TEST(ZeroMqNetworkTest, FirstMessageDeclaresTheQueueWithItsLastValueFlag) {
  auto publisher = MustStart(Loopback());
  ASSERT_NE(publisher, nullptr);
  ZeroMqTransport::Settings s = Loopback();
  s.connect_self = false;
  s.connect = {publisher->endpoint()};
  auto subscriber = MustStart(s);
  ASSERT_NE(subscriber, nullptr);
  ASSERT_TRUE(publisher->DeclareQueue("link.s1", {/*last_value=*/true}).ok());
  ASSERT_TRUE(publisher->DeclareQueue("verbose", {}).ok());
  EXPECT_EQ(subscriber->GetQueueStats({"link.s1"}).status().code(),
            absl::StatusCode::kNotFound);

  for (const char* id : {"down", "up", "down-again"}) {
    ASSERT_TRUE(Publish(*publisher, "link.s1", {id}).ok());
  }
  ASSERT_TRUE(Publish(*publisher, "verbose", Numbered("v", 0, 3)).ok());
  ASSERT_TRUE(Eventually([&] { return subscriber->counters().received == 6; }));
  // With its dead-letter queue (max_deliveries), as declared on receipt;
  // a last-value queue has none.
  auto stats = subscriber->GetQueueStats({});
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(stats->size(), 3u);
  EXPECT_EQ((*stats)[0].name, "dead.verbose");
  stats = subscriber->GetQueueStats({"link.s1", "verbose"});
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(stats->size(), 2u);
  EXPECT_EQ((*stats)[0].name, "link.s1");
  EXPECT_TRUE((*stats)[0].last_value);
  EXPECT_EQ((*stats)[0].depth, 1u);
  EXPECT_EQ((*stats)[1].name, "verbose");
  EXPECT_FALSE((*stats)[1].last_value);
  EXPECT_EQ((*stats)[1].depth, 3u);
  DeliveryCollector c;
  auto sub = subscriber->Subscribe({{"link.s1"}, 10}, c.handler());
  ASSERT_TRUE(sub.ok());
  EXPECT_THAT(Ids(c.WaitFor(1)), ElementsAre("down-again"));
}

TEST(ZeroMqTransportTest, FullQueueDropsTheOldestAndCountsThem) {
  ZeroMqTransport::Settings s = Loopback();
  s.max_queue_messages = 10;
  auto t = MustStart(s);
  ASSERT_NE(t, nullptr);
  ASSERT_TRUE(t->DeclareQueue("q", {}).ok());
  std::vector<std::string> ids = Numbered("m", 0, 25);
  ASSERT_TRUE(Publish(*t, "q", ids).ok());
  ASSERT_TRUE(Eventually([&] { return t->counters().received == 25; }));
  EXPECT_EQ(t->counters().dropped, 15u);
  EXPECT_EQ((*t->GetQueueStats({"q"}))[0].depth, 10u);
  DeliveryCollector c;
  auto sub = t->Subscribe({{"q"}, 100}, c.handler());
  ASSERT_TRUE(sub.ok());
  EXPECT_THAT(Ids(c.WaitFor(10)), ElementsAreArray(std::vector<std::string>(
                                      ids.begin() + 15, ids.end())));
  EXPECT_EQ(t->counters().lost, 0u);
}

TEST(ZeroMqTransportTest, BatchLostOnTheWayToItsOwnBufferFails) {
  // High-water marks of one message and far more data than the socket
  // buffers between hold: the publisher drops most of the burst.
  ZeroMqTransport::Settings s = Loopback();
  s.bind = IpcEndpoint();
  s.send_hwm = 1;
  s.receive_hwm = 1;
  auto t = MustStart(s);
  ASSERT_NE(t, nullptr);
  ASSERT_TRUE(t->DeclareQueue("q", {}).ok());
  auto payload = std::make_shared<const std::string>(4096, 'x');
  std::vector<OutgoingMessage> batch;
  for (int i = 0; i < 5000; ++i) {
    batch.push_back(OutgoingMessage{absl::StrCat("m", i), payload, {"q"}});
  }
  absl::Notification done;
  absl::Status result;
  t->Publish(std::move(batch), [&](absl::Status st) {
    result = st;
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWait));
  EXPECT_EQ(result.code(), absl::StatusCode::kResourceExhausted) << result;
  EXPECT_THAT(std::string(result.message()), HasSubstr("send_hwm"));
  ZeroMqTransport::Counters c = t->counters();
  EXPECT_GT(c.lost, 0u);
  EXPECT_EQ(c.sent, 5000u);
  // Whatever did come back is there, and it is not more than was sent.
  EXPECT_TRUE(Eventually(
      [&] { return t->counters().received + t->counters().lost == 5000; }));
}

TEST(ZeroMqTransportTest, BatchLargerThanTheHighWaterMarksArrivesWhole) {
  // 60,000 messages in one batch: three times both high-water marks
  // together. The bridge reads its own subscriber while it sends, so none
  // is dropped (otherwise the batch would fail, be sent again, and fail
  // again forever).
  auto t = MustStart(Loopback());
  ASSERT_NE(t, nullptr);
  ASSERT_TRUE(t->DeclareQueue("big", {}).ok());
  absl::Status published = Publish(*t, "big", Numbered("m", 0, 60000));
  ASSERT_TRUE(published.ok()) << published;
  EXPECT_EQ(t->counters().lost, 0u);
  EXPECT_EQ((*t->GetQueueStats({"big"}))[0].depth, 60000u);
}

TEST(ZeroMqTransportTest, DestructionAnswersEveryAcceptedBatch) {
  auto t = MustStart(Loopback());
  ASSERT_NE(t, nullptr);
  ASSERT_TRUE(t->DeclareQueue("q", {}).ok());
  DeliveryCollector c;
  auto sub = t->Subscribe({{"q"}, 10}, c.handler());
  ASSERT_TRUE(sub.ok());
  std::atomic<int> answered{0};
  for (int i = 0; i < 200; ++i) {
    t->Publish({OutgoingMessage{absl::StrCat("m", i),
                                std::make_shared<const std::string>("x"),
                                {"q"}}},
               [&](absl::Status) { ++answered; });
  }
  sub->reset();
  t.reset();  // must neither hang nor forget a callback
  EXPECT_EQ(answered.load(), 200);
}

TEST(ZeroMqTransportTest, OwnEndpointListedInConnectIsReadOnce) {
  ZeroMqTransport::Settings s = Loopback();
  s.bind = IpcEndpoint();
  // The same list of every bridge's endpoint in every bridge's config.
  s.connect = {s.bind};
  auto t = MustStart(s);
  ASSERT_NE(t, nullptr);
  ASSERT_TRUE(t->WaitForPublishers(1, kWait));
  ASSERT_TRUE(t->DeclareQueue("q", {}).ok());
  DeliveryCollector c;
  auto sub = t->Subscribe({{"q"}, 1000}, c.handler());
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE(Publish(*t, "q", Numbered("m", 0, 100)).ok());
  ASSERT_EQ(c.WaitFor(100).size(), 100u);
  ASSERT_TRUE(Publish(*t, "q", {"end"}).ok());
  std::vector<Delivery> got = c.WaitFor(101);
  std::vector<std::string> expected = Numbered("m", 0, 100);
  expected.push_back("end");
  EXPECT_THAT(Ids(got), ElementsAreArray(expected));
  EXPECT_TRUE(Eventually([&] { return t->counters().received == 101; }))
      << t->counters().received;
}

TEST(ZeroMqTransportTest, SubscriberReconnectsToARestartedPublisher) {
  const std::string endpoint = IpcEndpoint();
  ZeroMqTransport::Settings ps = Loopback();
  ps.bind = endpoint;
  ps.connect_self = false;
  auto publisher = MustStart(ps);
  ASSERT_NE(publisher, nullptr);
  ZeroMqTransport::Settings ss = Loopback();
  ss.connect_self = false;
  ss.connect = {endpoint};
  auto subscriber = MustStart(ss);
  ASSERT_NE(subscriber, nullptr);
  ASSERT_TRUE(subscriber->DeclareQueue("q", {}).ok());
  DeliveryCollector c;
  auto sub = subscriber->Subscribe({{"q"}, 10000}, c.handler());
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE(publisher->DeclareQueue("q", {}).ok());
  ASSERT_TRUE(Publish(*publisher, "q", Numbered("a", 0, 10)).ok());
  ASSERT_EQ(c.WaitFor(10).size(), 10u);

  publisher.reset();
  publisher = MustStart(ps);
  ASSERT_NE(publisher, nullptr);
  ASSERT_TRUE(publisher->DeclareQueue("q", {}).ok());
  // A slow joiner again: probe until the subscriber is back.
  int probes = 0;
  ASSERT_TRUE(Eventually([&] {
    EXPECT_TRUE(
        Publish(*publisher, "q", {absl::StrCat("probe", probes++)}).ok());
    return c.size() > 10;
  }));
  ASSERT_TRUE(Publish(*publisher, "q", Numbered("b", 0, 100)).ok());
  auto count_b = [&] {
    size_t n = 0;
    for (const std::string& id : Ids(c.WaitFor(0))) n += id[0] == 'b';
    return n;
  };
  ASSERT_TRUE(Eventually([&] { return count_b() == 100; })) << count_b();
  // Probes only came before the b's (one publisher keeps its order), and
  // apart from them nothing was lost or repeated.
  std::vector<std::string> ids = Ids(c.WaitFor(0));
  EXPECT_EQ(ids.back(), "b99");
  std::vector<std::string> real;
  for (const std::string& id : ids) {
    if (!absl::StartsWith(id, "probe")) real.push_back(id);
  }
  std::vector<std::string> expected = Numbered("a", 0, 10);
  for (const std::string& id : Numbered("b", 0, 100)) expected.push_back(id);
  EXPECT_THAT(real, ElementsAreArray(expected));
  // A new publisher id starts a new sequence: no false loss.
  EXPECT_EQ(subscriber->counters().lost, 0u);
}

TEST(ZeroMqTransportTest, BusyEndpointIsUnavailableNamingIt) {
  auto first = MustStart(Loopback());
  ASSERT_NE(first, nullptr);
  ZeroMqTransport::Settings s = Loopback();
  s.bind = first->endpoint();
  auto second = ZeroMqTransport::Start(s);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable)
      << second.status();
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr(absl::StrCat("transport.zeromq.bind: zeromq "
                                     "publisher: cannot bind ",
                                     first->endpoint())));
}

TEST(ZeroMqTransportTest, RegistryCreatesItByName) {
  auto node = ConfigNode::Parse("bind: tcp://127.0.0.1:0\n", "bridge.yaml");
  ASSERT_TRUE(node.ok());
  auto t = TransportRegistry::Global().Create("zeromq", *node);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->driver(), "zeromq");
  // Port 0 bound a real port.
  auto* zmq = static_cast<ZeroMqTransport*>(t->get());
  EXPECT_THAT(zmq->endpoint(), ::testing::StartsWith("tcp://127.0.0.1:"));
  EXPECT_THAT(zmq->endpoint(), ::testing::Not(::testing::EndsWith(":0")));
}

absl::StatusOr<ZeroMqTransport::Settings> Parse(const std::string& yaml) {
  // Under its real place in bridge.yaml, so errors show the full path.
  auto root = ConfigNode::Parse(yaml, "bridge.yaml");
  if (!root.ok()) return root.status();
  auto transport = root->Child("transport");
  if (!transport.ok()) return transport.status();
  auto section = transport->Child("zeromq");
  if (!section.ok()) return section.status();
  return ZeroMqTransport::ParseSettings(*section);
}

std::string Section(const std::string& settings) {
  std::string yaml = "transport:\n  zeromq:\n";
  for (absl::string_view line : absl::StrSplit(settings, '\n')) {
    if (!line.empty()) absl::StrAppend(&yaml, "    ", line, "\n");
  }
  return yaml;
}

TEST(ZeroMqSettingsTest, Defaults) {
  auto s = Parse(Section(""));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->bind, "tcp://127.0.0.1:5560");
  EXPECT_TRUE(s->connect.empty());
  EXPECT_TRUE(s->connect_self);
  EXPECT_TRUE(s->declare_on_receive);
  EXPECT_EQ(s->send_hwm, 10000u);
  EXPECT_EQ(s->receive_hwm, 10000u);
  EXPECT_EQ(s->max_queue_messages, 100000u);
  EXPECT_EQ(s->max_total_bytes, uint64_t{1} << 30);
  EXPECT_EQ(s->linger, absl::Seconds(1));
  EXPECT_EQ(s->heartbeat, absl::Seconds(1));
  EXPECT_EQ(s->connect_timeout, absl::Seconds(5));

  s = Parse(Section(
      "bind: tcp://*:5560\n"
      "connect: [tcp://bridge-2:5560, 'tcp://[::1]:5561', ipc:///run/z.sock]\n"
      "connect_self: false\n"
      "heartbeat: 250ms\n"));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_THAT(s->connect, ElementsAre("tcp://bridge-2:5560", "tcp://[::1]:5561",
                                      "ipc:///run/z.sock"));
  EXPECT_FALSE(s->connect_self);
  EXPECT_EQ(s->heartbeat, absl::Milliseconds(250));
}

TEST(ZeroMqSettingsTest, ExampleConfigShowsTheDefaults) {
  const char* runfiles = std::getenv("TEST_SRCDIR");
  ASSERT_NE(runfiles, nullptr);
  auto root = ConfigNode::LoadFile(
      absl::StrCat(runfiles, "/switchboard/config/bridge.yaml"));
  ASSERT_TRUE(root.ok()) << root.status();
  auto section = root->Child("transport")->Child("zeromq");
  ASSERT_TRUE(section.ok());
  ASSERT_FALSE(section->Keys().empty());
  auto file = ZeroMqTransport::ParseSettings(*section);
  auto defaults = Parse(Section(""));
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(file->bind, defaults->bind);
  EXPECT_EQ(file->connect, defaults->connect);
  EXPECT_EQ(file->connect_self, defaults->connect_self);
  EXPECT_EQ(file->declare_on_receive, defaults->declare_on_receive);
  EXPECT_EQ(file->send_hwm, defaults->send_hwm);
  EXPECT_EQ(file->receive_hwm, defaults->receive_hwm);
  EXPECT_EQ(file->max_queue_messages, defaults->max_queue_messages);
  EXPECT_EQ(file->max_total_bytes, defaults->max_total_bytes);
  EXPECT_EQ(file->linger, defaults->linger);
  EXPECT_EQ(file->heartbeat, defaults->heartbeat);
  EXPECT_EQ(file->connect_timeout, defaults->connect_timeout);
}

TEST(ZeroMqSettingsTest, ErrorsNameTheField) {
  for (const auto& [yaml, expected] :
       std::vector<std::pair<std::string, std::string>>{
           {"bindd: tcp://127.0.0.1:1\n", "bindd: unknown setting"},
           {"bind: udp://127.0.0.1:5560\n",
            "bind: unsupported endpoint 'udp://127.0.0.1:5560'"},
           {"bind: tcp://127.0.0.1\n", "bind: 'tcp://127.0.0.1' has no port"},
           {"bind: tcp://127.0.0.1:70000\n",
            "bind: 'tcp://127.0.0.1:70000' "
            "has no valid port"},
           {"bind: 'ipc://'\n", "bind: ipc:// needs a path"},
           {"connect: [tcp://a:1, 'tcp://*:2']\n",
            "connect[1]: 'tcp://*:2': connect needs the publisher's host"},
           {"connect: [tcp://a:0]\n",
            "connect[0]: 'tcp://a:0' has no valid "
            "port (1 to 65535)"},
           {"connect: [tcp://a:1, tcp://b:1, tcp://a:1]\n",
            "connect[2]: 'tcp://a:1' is listed twice (also connect[0])"},
           {"connect: {a: 1}\n", "connect: expected a list of strings"},
           {"connect_self: maybe\n", "connect_self: "},
           {"send_hwm: 0\n", "send_hwm: must be 1 to 2147483647"},
           {"receive_hwm: -5\n", "receive_hwm: must not be negative"},
           {"max_queue_messages: 0\n",
            "max_queue_messages: must be at least 1"},
           {"max_queue_messages: lots\n",
            "max_queue_messages: expected an integer, got 'lots'"},
           {"max_total_bytes: 0\n", "max_total_bytes: must be at least 1"},
           {"linger: 2m\n", "linger: must be at most 1m"},
           {"linger: -1s\n", "linger: must not be negative"},
           {"heartbeat: 1ms\n", "heartbeat: must be 10ms to 1h"},
           {"connect_timeout: soon\n", "connect_timeout: expected a duration"},
       }) {
    auto s = Parse(Section(yaml));
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << yaml;
    EXPECT_THAT(std::string(s.status().message()),
                HasSubstr("bridge.yaml: transport.zeromq." + expected))
        << yaml;
  }
}

// ---- CURVE ----

struct KeyPair {
  std::string public_key;
  std::string secret_key;
};

KeyPair NewKeyPair() {
  char public_key[41];
  char secret_key[41];
  EXPECT_EQ(zmq_curve_keypair(public_key, secret_key), 0);
  return {public_key, secret_key};
}

// Bridges a (publisher) and b, c, d (subscribers of a): b holds a key that
// a authorizes; c knows a's key but its own is not authorized; d has the
// wrong key for a. Only b gets a's events; a counts c's refusal; d never
// hears a (its handshake cannot succeed without a's secret).
TEST(ZeroMqCurveTest, OnlyBridgesWithTheRightKeysExchangeEvents) {
  const KeyPair a_keys = NewKeyPair(), b_keys = NewKeyPair(),
                c_keys = NewKeyPair(), d_keys = NewKeyPair();
  ZeroMqTransport::Settings as = Loopback();
  as.curve.secret_key = a_keys.secret_key;
  as.curve.authorized_keys = {b_keys.public_key};
  auto a = MustStart(as);
  ASSERT_NE(a, nullptr);
  auto subscriber = [&](const KeyPair& own, const std::string& a_key,
                        absl::Duration wait) {
    ZeroMqTransport::Settings s = Loopback();
    s.connect_self = false;
    s.connect = {a->endpoint()};
    s.connect_timeout = wait;  // a missing peer only warns
    s.curve.secret_key = own.secret_key;
    s.curve.peer_keys = {{a->endpoint(), a_key}};
    return MustStart(s);
  };
  auto b = subscriber(b_keys, a_keys.public_key, kWait);
  auto c = subscriber(c_keys, a_keys.public_key, absl::Milliseconds(10));
  auto d = subscriber(d_keys, NewKeyPair().public_key, absl::Milliseconds(10));
  ASSERT_TRUE(b != nullptr && c != nullptr && d != nullptr);
  ASSERT_TRUE(b->WaitForPublishers(1, kWait));
  ASSERT_TRUE(Eventually([&] { return a->counters().curve_refused > 0; }))
      << "c was not refused";

  for (auto* t : {a.get(), b.get(), c.get(), d.get()}) {
    ASSERT_TRUE(t->DeclareQueue("app.x", {}).ok());
  }
  ASSERT_TRUE(Publish(*a, "app.x", Numbered("x", 0, 3)).ok());
  DeliveryCollector got_b, got_c, got_d;
  auto sub_b = b->Subscribe({{"app.x"}, 100}, got_b.handler());
  auto sub_c = c->Subscribe({{"app.x"}, 100}, got_c.handler());
  auto sub_d = d->Subscribe({{"app.x"}, 100}, got_d.handler());
  ASSERT_TRUE(sub_b.ok() && sub_c.ok() && sub_d.ok());
  EXPECT_THAT(Ids(got_b.WaitFor(3)), ElementsAre("x0", "x1", "x2"));
  EXPECT_EQ(c->counters().received, 0u);
  EXPECT_EQ(d->counters().received, 0u);
  EXPECT_FALSE(d->WaitForPublishers(1, absl::ZeroDuration()));
  EXPECT_EQ(got_c.size(), 0u);
  EXPECT_EQ(got_d.size(), 0u);
}

// A bridge alone with CURVE still carries its own events (its subscriber
// uses its own key).
TEST(ZeroMqCurveTest, ABridgeAloneCarriesItsOwnEvents) {
  ZeroMqTransport::Settings s = Loopback();
  s.curve.secret_key = NewKeyPair().secret_key;
  auto t = MustStart(s);
  ASSERT_NE(t, nullptr);
  ASSERT_TRUE(t->DeclareQueue("q", {}).ok());
  ASSERT_TRUE(Publish(*t, "q", Numbered("e", 0, 2)).ok());
  DeliveryCollector got;
  auto sub = t->Subscribe({{"q"}, 10}, got.handler());
  ASSERT_TRUE(sub.ok());
  EXPECT_THAT(Ids(got.WaitFor(2)), ElementsAre("e0", "e1"));
}

TEST(ZeroMqCurveTest, SettingsErrorsNameTheFieldAndNeverTheSecret) {
  const std::string dir = ::testing::TempDir();
  const KeyPair keys = NewKeyPair();
  const std::string good = dir + "/good.key";
  const std::string bad = dir + "/bad.key";
  { std::ofstream(good) << keys.secret_key << "\n"; }
  { std::ofstream(bad) << "not-a-key-" << keys.secret_key.substr(0, 10); }
  auto ok = Parse(Section(absl::StrCat(
      "connect: ['tcp://b:5560']\ncurve:\n  secret_key_file: ", good,
      "\n  peer_keys: {'tcp://b:5560': '", keys.public_key, "'}\n")));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->curve.secret_key, keys.secret_key);
  for (const auto& [yaml, expected] :
       std::vector<std::pair<std::string, std::string>>{
           {"curve:\n  secret_key_file: " + bad + "\n",
            "curve.secret_key_file: '" + bad +
                "' does not hold a Z85 CURVE secret key"},
           {"curve:\n  secret_key_file: /nonexistent.key\n",
            "curve.secret_key_file: cannot read '/nonexistent.key'"},
           {"connect: ['tcp://b:5560']\ncurve:\n  secret_key_file: " + good +
                "\n",
            "curve.peer_keys: has no key for connect[0] 'tcp://b:5560'"},
           {"curve:\n  secret_key_file: " + good +
                "\n  peer_keys: {'tcp://c:1': '" + keys.public_key + "'}\n",
            "curve.peer_keys.tcp://c:1: is not in connect"},
           {"curve:\n  authorized_keys: ['short']\n",
            "curve.authorized_keys[0]: is not a Z85 CURVE public key"},
           {"curve:\n  authorized_keys: ['" + keys.public_key + "']\n",
            "curve.secret_key_file: must be set for CURVE"},
       }) {
    auto s = Parse(Section(yaml));
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << yaml;
    EXPECT_THAT(std::string(s.status().message()),
                HasSubstr("bridge.yaml: transport.zeromq." + expected))
        << yaml;
    EXPECT_THAT(std::string(s.status().message()),
                Not(HasSubstr(keys.secret_key.substr(0, 10))));
  }
}

}  // namespace
}  // namespace switchboard::bridge::zeromq
