// The zeromq driver over real sockets on loopback (tcp) and Linux abstract
// unix sockets (ipc://@name): the Transport contract, a network of
// publishers and subscribers, overflow, duplicates, restarts and CURVE.
// Its settings: zeromq_settings_test.cc.
#include <zmq.h>

#include <atomic>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/common/config.h"
#include "services/mq-bridge/transport/conformance/delivery_collector.h"
#include "services/mq-bridge/transport/conformance/transport_conformance.h"
#include "services/mq-bridge/transport/registry.h"
#include "services/mq-bridge/transport/zeromq/zeromq_testing.h"
#include "services/mq-bridge/transport/zeromq/zeromq_transport_impl.h"
#include "tests/testing/eventually.h"

namespace switchboard::bridge::zeromq {
namespace {

using ::switchboard::bridge::testing::DeliveryCollector;
using ::switchboard::testing::Eventually;
using zmqtest::Ids;
using zmqtest::IpcEndpoint;
using zmqtest::KeyPair;
using zmqtest::kWait;
using zmqtest::Loopback;
using zmqtest::MustStart;
using zmqtest::NewKeyPair;
using zmqtest::Numbered;
using zmqtest::PayloadOf;
using zmqtest::Publish;

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using testing::TransportConformanceTest;

INSTANTIATE_TEST_SUITE_P(
    ZeroMq, TransportConformanceTest,
    ::testing::Values(
        testing::TransportUnderTest{"zeromq-tcp",
                                    [] { return MustStart(Loopback()); }},
        testing::TransportUnderTest{"zeromq-ipc",
                                    [] {
                                      Settings s = Loopback();
                                      s.bind = IpcEndpoint();
                                      return MustStart(s);
                                    }},
        // Every message through CURVE and the ZAP handler.
        testing::TransportUnderTest{"zeromq-curve", [] {
                                      Settings s = Loopback();
                                      char public_key[41], secret_key[41];
                                      zmq_curve_keypair(public_key, secret_key);
                                      s.curve.secret_key = secret_key;
                                      return MustStart(s);
                                    }}));

TEST(ZeroMqNetworkTest, EverySubscriberGetsEveryEventOfEveryPublisherInOrder) {
  constexpr int kPublishers = 2;
  constexpr int kSubscribers = 3;
  constexpr int kEvents = 2000;
  const std::string queue = "app.kytos.topology";

  std::vector<std::unique_ptr<ZeroMqTransport>> publishers;
  std::vector<std::string> endpoints;
  for (int p = 0; p < kPublishers; ++p) {
    Settings s = Loopback();
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
    Settings settings = Loopback();
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
  Settings s = Loopback();
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
  Settings s = Loopback();
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
  Settings s = Loopback();
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
  Settings s = Loopback();
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
  Settings s = Loopback();
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
  Settings ps = Loopback();
  ps.bind = endpoint;
  ps.connect_self = false;
  auto publisher = MustStart(ps);
  ASSERT_NE(publisher, nullptr);
  Settings ss = Loopback();
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
  Settings s = Loopback();
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

// ---- CURVE ----

// Bridges a (publisher) and b, c, d (subscribers of a): b holds a key that
// a authorizes; c knows a's key but its own is not authorized; d has the
// wrong key for a. Only b gets a's events; a counts c's refusal; d never
// hears a (its handshake cannot succeed without a's secret).
TEST(ZeroMqCurveTest, OnlyBridgesWithTheRightKeysExchangeEvents) {
  const KeyPair a_keys = NewKeyPair(), b_keys = NewKeyPair(),
                c_keys = NewKeyPair(), d_keys = NewKeyPair();
  Settings as = Loopback();
  as.curve.secret_key = a_keys.secret_key;
  as.curve.authorized_keys = {b_keys.public_key};
  auto a = MustStart(as);
  ASSERT_NE(a, nullptr);
  auto subscriber = [&](const KeyPair& own, const std::string& a_key,
                        absl::Duration wait) {
    Settings s = Loopback();
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
  Settings s = Loopback();
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

}  // namespace
}  // namespace switchboard::bridge::zeromq
