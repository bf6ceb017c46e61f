#include "services/mq-bridge/transport/rabbitmq/rabbitmq_transport.h"

#include <stdlib.h>

#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/mq-bridge/transport/conformance/conformance_fixture.h"
#include "services/mq-bridge/transport/conformance/delivery_collector.h"
#include "services/mq-bridge/transport/conformance/transport_conformance.h"
#include "services/mq-bridge/transport/registry.h"
#include "tests/testing/eventually.h"
#include "tests/testing/rabbitmq_environment.h"
#include "tests/testing/rabbitmq_server.h"

namespace switchboard::bridge::rabbitmq {
namespace {

using ::switchboard::bridge::testing::ConformanceFixture;
using ::switchboard::bridge::testing::DeliveryCollector;
using ::switchboard::bridge::testing::PublishAndWait;

using switchboard::testing::RabbitMqServer;
using switchboard::testing::SharedRabbitMq;
using ::testing::HasSubstr;
using testing::TransportConformanceTest;

Settings BrokerSettings() {
  Settings s;
  s.connection.nodes = {{"127.0.0.1", SharedRabbitMq().amqp_port()}};
  s.reconnect_initial = absl::Milliseconds(50);
  s.reconnect_max = absl::Milliseconds(500);
  return s;
}

std::unique_ptr<Transport> ConnectWithQueueType(const std::string& type) {
  Settings settings = BrokerSettings();
  settings.queue_type = type;
  auto t = Connect(settings);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? std::unique_ptr<Transport>(*std::move(t)) : nullptr;
}

INSTANTIATE_TEST_SUITE_P(
    RabbitMq, TransportConformanceTest,
    ::testing::Values(
        testing::TransportUnderTest{
            "rabbitmq-classic", [] { return ConnectWithQueueType("classic"); }},
        testing::TransportUnderTest{
            "rabbitmq-quorum", [] { return ConnectWithQueueType("quorum"); }}));

absl::StatusOr<Settings> Parse(const std::string& yaml) {
  auto node = ConfigNode::Parse(yaml, "bridge.yaml");
  if (!node.ok()) return node.status();
  return ParseSettings(*node);
}

TEST(RabbitMqSettingsTest, DefaultsAndErrorsNameTheField) {
  auto defaults = Parse("{}");
  ASSERT_TRUE(defaults.ok());
  ASSERT_EQ(defaults->connection.nodes.size(), 1u);
  EXPECT_EQ(defaults->connection.nodes[0].host, "127.0.0.1");
  EXPECT_EQ(defaults->connection.nodes[0].port, 5672);
  EXPECT_EQ(defaults->exchange, "switchboard");
  EXPECT_TRUE(defaults->durable);
  for (const auto& [yaml, expected] :
       std::vector<std::pair<std::string, std::string>>{
           {"queue_type: stream\n", "queue_type: must be classic or quorum"},
           {"port: 70000\n", "port: must be 1 to 65535"},
           {"queue_type: quorum\ndurable: false\n",
            "durable: quorum queues are always durable"},
           {"tls:\n  client_cert: /a.pem\n",
            "tls.client_cert: client_cert and client_key go together"},
           {"password_file: /nonexistent/secret\n",
            "password_file: cannot read '/nonexistent/secret'"},
           {"hostname: x\n", "hostname: unknown setting"},
           {"delivery_linger: 1s\n",
            "delivery_linger: must be 0 (off) to 100ms"},
           {"delivery_linger: -1ms\n", "delivery_linger: must not be negative"},
           {"host: a\nnodes: [b:5672]\n",
            "nodes: set either nodes (a cluster) or host and port"},
           {"port: 5673\nnodes: [b:5672]\n",
            "nodes: set either nodes (a cluster) or host and port"},
           {"nodes: []\n", "nodes: must list at least one host:port"},
           {"nodes: [a:0]\n", "nodes: node 'a': port '0' is not 1 to 65535"},
           {"nodes: [a:x]\n", "nodes: node 'a': port 'x' is not 1 to 65535"},
           {"nodes: [':5672']\n", "nodes: ':5672': expected host:port"},
           {"nodes: ['::1:5672']\n", "nodes: '::1:5672': write an IPv6"},
       }) {
    auto s = Parse(yaml);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << yaml;
    EXPECT_THAT(std::string(s.status().message()),
                HasSubstr("bridge.yaml: " + expected));
  }
}

TEST(RabbitMqSettingsTest, NodesListTheClusterInOrder) {
  auto s = Parse(
      "nodes: [rabbit-1:5672, 'rabbit-2', '[::1]:5673']\n"
      "tls:\n  enabled: true\n");
  ASSERT_TRUE(s.ok()) << s.status();
  const std::vector<BrokerNode>& nodes = s->connection.nodes;
  ASSERT_EQ(nodes.size(), 3u);
  EXPECT_EQ(nodes[0].host, "rabbit-1");
  EXPECT_EQ(nodes[0].port, 5672);
  EXPECT_EQ(nodes[1].host, "rabbit-2");
  EXPECT_EQ(nodes[1].port, 5672);
  EXPECT_EQ(nodes[2].host, "::1");
  EXPECT_EQ(nodes[2].port, 5673);
  // TLS (and every other connection setting) applies to every node.
  EXPECT_EQ(s->connection.Describe(2), "amqps://guest@[::1]:5673/");
  EXPECT_EQ(s->connection.DescribeAll(),
            "amqps://guest@{rabbit-1:5672,rabbit-2:5672,[::1]:5673}/");
  // host and port alone still name the single broker.
  s = Parse("host: rabbit-1\nport: 5673\n");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->connection.nodes.size(), 1u);
  EXPECT_EQ(s->connection.Describe(0), "amqp://guest@rabbit-1:5673/");
}

TEST(RabbitMqSettingsTest, PasswordComesFromFileThenEnvironmentThenConfig) {
  setenv("SB_TEST_RABBIT_PASSWORD", "from-env", 1);
  auto s =
      Parse("password: from-config\npassword_env: SB_TEST_RABBIT_PASSWORD\n");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->connection.password, "from-env");
  s = Parse("password: from-config\npassword_env: SB_TEST_UNSET_VARIABLE\n");
  EXPECT_EQ(s->connection.password, "from-config");
  std::string file = absl::StrCat(getenv("TEST_TMPDIR"), "/secret");
  FILE* f = fopen(file.c_str(), "w");
  fputs("from-file\n", f);
  fclose(f);
  s = Parse(absl::StrCat("password_file: ", file,
                         "\npassword_env: SB_TEST_RABBIT_PASSWORD\n"));
  EXPECT_EQ(s->connection.password, "from-file");
  // Never in the description used by logs and errors.
  EXPECT_THAT(s->connection.Describe(0), ::testing::Not(HasSubstr("from-")));
}

TEST(RabbitMqTransportTest, WrongPasswordIsPermissionDeniedWithoutThePassword) {
  Settings s = BrokerSettings();
  s.connection.password = "not-the-password";
  auto t = Connect(s);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kPermissionDenied)
      << t.status();
  EXPECT_THAT(std::string(t.status().message()),
              ::testing::Not(HasSubstr("not-the-password")));
}

TEST(RabbitMqTransportTest, ARefusalOfEveryNodeIsPermissionDenied) {
  Settings s = BrokerSettings();
  const BrokerNode live = s.connection.nodes[0];
  s.connection.nodes = {live, {"127.0.0.1", 1}};
  s.connection.password = "not-the-password";
  auto t = Connect(s);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kPermissionDenied)
      << t.status();
  EXPECT_THAT(std::string(t.status().message()),
              HasSubstr(s.connection.Describe(0)));
}

TEST(RabbitMqTransportTest, UnknownVhostIsPermissionDenied) {
  Settings s = BrokerSettings();
  s.connection.vhost = "no-such-vhost";
  auto t = Connect(s);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kPermissionDenied)
      << t.status();
}

TEST(RabbitMqTransportTest, UnreachableBrokerIsUnavailableAndNamesIt) {
  Settings s = BrokerSettings();
  s.connection.nodes[0].port = 1;
  auto t = Connect(s);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(t.status().message()),
              HasSubstr("amqp://guest@127.0.0.1:1/"));
  // With several nodes, the error names each one.
  s.connection.nodes.push_back({"127.0.0.1", 2});
  t = Connect(s);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(t.status().message()),
              HasSubstr("no node of amqp://guest@{127.0.0.1:1,127.0.0.1:2}/ "
                        "is reachable: cannot connect to "
                        "amqp://guest@127.0.0.1:1/"));
  EXPECT_THAT(std::string(t.status().message()),
              HasSubstr("cannot connect to amqp://guest@127.0.0.1:2/"));
}

// Publishes `ids` (payload "payload-<id>") to `queue` in one batch and
// waits for the confirmation.
absl::Status PublishIds(Transport& t, const std::string& queue,
                        const std::vector<std::string>& ids) {
  std::vector<OutgoingMessage> batch;
  for (const std::string& id : ids) {
    batch.push_back(ConformanceFixture::Message(id, {queue}));
  }
  return PublishAndWait(t, std::move(batch)).status;
}

uint64_t Depth(Transport& t, const std::string& queue) {
  auto stats = t.GetQueueStats({queue});
  return stats.ok() ? (*stats)[0].depth : ~uint64_t{0};
}

bool DepthBecomes(Transport& t, const std::string& queue, uint64_t depth) {
  return switchboard::testing::Eventually(
      [&] { return Depth(t, queue) == depth; }, absl::Seconds(20));
}

// Declares `queue`, publishes `id` to it, and reads it back with its payload.
void ExpectRoundTrip(Transport& t, const std::string& queue,
                     const std::string& id) {
  ASSERT_TRUE(t.DeclareQueue(queue, {}).ok());
  ASSERT_TRUE(PublishIds(t, queue, {id}).ok());
  DeliveryCollector inbox;
  auto sub = t.Subscribe({{queue}, 1}, inbox.handler());
  ASSERT_TRUE(sub.ok()) << sub.status();
  std::vector<Delivery> got = inbox.WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(*got[0].payload, "payload-" + id);
}

// Settings for a broker of its own, over TLS with its CA.
Settings TlsSettings(const RabbitMqServer& broker) {
  Settings settings;
  // The certificate names localhost; rabbitmq-c checks DNS names only.
  settings.connection.nodes = {{"localhost", broker.tls_port()}};
  settings.connection.tls = true;
  settings.connection.ca_cert_file = broker.ca_cert();
  return settings;
}

TEST(RabbitMqTransportTest, EventNackedTooOftenGoesToTheDeadLetterQueue) {
  Settings settings = BrokerSettings();
  settings.max_deliveries = 2;
  auto t = Connect(settings);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_TRUE((*t)->DeclareQueue("dlq.nacked", {}).ok());
  ASSERT_TRUE(PublishIds(**t, "dlq.nacked", {"poison", "fine"}).ok());
  DeliveryCollector inbox;
  auto sub = (*t)->Subscribe({{"dlq.nacked"}, 1}, inbox.handler());
  ASSERT_TRUE(sub.ok());
  // Two failed deliveries are allowed; the third never reaches the app.
  for (size_t n = 1; n <= 2; ++n) {
    std::vector<Delivery> got = inbox.WaitFor(n);
    ASSERT_EQ(got.size(), n);
    EXPECT_EQ(got.back().id, "poison");
    EXPECT_EQ(got.back().delivery_count, n);
    ASSERT_TRUE((*sub)->Nack({got.back().tag}, /*requeue=*/true).ok());
  }
  std::vector<Delivery> got = inbox.WaitFor(3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].id, "fine");
  ASSERT_TRUE((*sub)->Ack({got[2].tag}).ok());
  EXPECT_TRUE(DepthBecomes(**t, "dead.dlq.nacked", 1));
  EXPECT_TRUE(DepthBecomes(**t, "dlq.nacked", 0));

  DeliveryCollector dead;
  auto dead_sub = (*t)->Subscribe({{"dead.dlq.nacked"}, 10}, dead.handler());
  ASSERT_TRUE(dead_sub.ok()) << dead_sub.status();
  std::vector<Delivery> buried = dead.WaitFor(1);
  ASSERT_EQ(buried.size(), 1u);
  EXPECT_EQ(buried[0].id, "poison");
  EXPECT_EQ(*buried[0].payload, "payload-poison");
  // The dead-letter queue is listed with the others.
  auto all = (*t)->GetQueueStats({});
  ASSERT_TRUE(all.ok());
  bool listed = false;
  for (const QueueStats& q : *all) listed |= q.name == "dead.dlq.nacked";
  EXPECT_TRUE(listed);
}

TEST(RabbitMqTransportTest, EventWhoseSubscribersKeepDyingIsDeadLettered) {
  Settings settings = BrokerSettings();
  settings.max_deliveries = 2;
  auto t = Connect(settings);
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE((*t)->DeclareQueue("dlq.crash", {}).ok());
  ASSERT_TRUE(PublishIds(**t, "dlq.crash", {"crasher"}).ok());
  for (int attempt = 1; attempt <= 2; ++attempt) {
    DeliveryCollector inbox;
    auto sub = (*t)->Subscribe({{"dlq.crash"}, 1}, inbox.handler());
    ASSERT_TRUE(sub.ok());
    ASSERT_EQ(inbox.WaitFor(1).size(), 1u) << attempt;
    // The subscriber goes away holding it.
  }
  ASSERT_TRUE(DepthBecomes(**t, "dlq.crash", 1));
  DeliveryCollector last;
  auto sub = (*t)->Subscribe({{"dlq.crash"}, 1}, last.handler());
  ASSERT_TRUE(sub.ok());
  EXPECT_TRUE(DepthBecomes(**t, "dead.dlq.crash", 1));
  EXPECT_TRUE(last.WaitFor(1).empty());
}

// A backlog streams in as fast as the broker can send it; with a linger
// the subscription hands it over in a few large batches rather than one per
// socket read (each read holds a few messages).
TEST(RabbitMqTransportTest, DeliveriesArrivingTogetherAreHandedOverTogether) {
  Settings settings = BrokerSettings();
  settings.delivery_linger = absl::Milliseconds(100);
  auto t = Connect(settings);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_TRUE((*t)->DeclareQueue("linger.backlog", {}).ok());
  constexpr int kEvents = 3000;
  std::vector<std::string> ids;
  for (int i = 0; i < kEvents; ++i) ids.push_back(absl::StrCat("e", i));
  ASSERT_TRUE(PublishIds(**t, "linger.backlog", ids).ok());
  DeliveryCollector inbox;
  auto sub = (*t)->Subscribe({{"linger.backlog"}, 10000}, inbox.handler());
  ASSERT_TRUE(sub.ok()) << sub.status();
  std::vector<Delivery> got = inbox.WaitFor(kEvents);
  ASSERT_EQ(got.size(), static_cast<size_t>(kEvents));
  for (int i = 0; i < kEvents; ++i) ASSERT_EQ(got[i].id, ids[i]);
  // The first read goes at once, then each linger takes up to 1024.
  EXPECT_LE(inbox.batches(), 12u);
  std::vector<uint64_t> tags;
  for (const Delivery& d : got) tags.push_back(d.tag);
  ASSERT_TRUE((*sub)->Ack(tags).ok());
  EXPECT_TRUE(DepthBecomes(**t, "linger.backlog", 0));
}

// The stats of every queue (what /metrics shows) used to fail whole, for
// good, once one queue was deleted behind the bridge's back: the dead-letter
// queue's name stayed on the list.
TEST(RabbitMqTransportTest, AllQueuesStatsLeaveOutAQueueThatIsGone) {
  Settings settings = BrokerSettings();
  settings.max_deliveries = 2;
  auto t = Connect(settings);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_TRUE((*t)->DeclareQueue("gone.kept", {}).ok());
  ASSERT_TRUE((*t)->DeclareQueue("gone.deleted", {}).ok());
  auto deleted = SharedRabbitMq().Ctl({"delete_queue", "gone.deleted"});
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  auto dead = SharedRabbitMq().Ctl({"delete_queue", "dead.gone.deleted"});
  ASSERT_TRUE(dead.ok()) << dead.status();
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto all = (*t)->GetQueueStats({});
    ASSERT_TRUE(all.ok()) << all.status();
    std::set<std::string> names;
    for (const QueueStats& q : *all) names.insert(q.name);
    EXPECT_TRUE(names.count("gone.kept"));
    EXPECT_FALSE(names.count("gone.deleted"));
    EXPECT_FALSE(names.count("dead.gone.deleted"));
  }
  // Asked for by name, a missing queue is still NotFound.
  EXPECT_EQ((*t)->GetQueueStats({"gone.deleted"}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(RabbitMqTransportTest, LastValueQueuesAreNotDeadLettered) {
  Settings settings = BrokerSettings();
  settings.max_deliveries = 1;
  auto t = Connect(settings);
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE((*t)->DeclareQueue("dlq.link", QueueOptions{true}).ok());
  EXPECT_EQ(Depth(**t, "dead.dlq.link"), ~uint64_t{0});  // no such queue
  ASSERT_TRUE(PublishIds(**t, "dlq.link", {"down"}).ok());
  DeliveryCollector inbox;
  auto sub = (*t)->Subscribe({{"dlq.link"}, 1}, inbox.handler());
  ASSERT_TRUE(sub.ok());
  std::vector<Delivery> got = inbox.WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE((*sub)->Nack({got[0].tag}, /*requeue=*/true).ok());
  got = inbox.WaitFor(2);
  ASSERT_EQ(got.size(), 2u);  // redelivered past the limit: no dead-lettering
  EXPECT_EQ(got[1].id, "down");
}

TEST(RabbitMqTlsTest, AmqpsWithTheBrokersCaWorksAndAnUnknownCaIsRefused) {
  auto tls_broker = RabbitMqServer::Start({/*tls=*/true});
  ASSERT_TRUE(tls_broker.ok()) << tls_broker.status();
  Settings settings = TlsSettings(**tls_broker);
  auto t = Connect(settings);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_NO_FATAL_FAILURE(ExpectRoundTrip(**t, "tls.q", "secret"));

  // Without the test CA the broker's certificate is not trusted.
  settings.connection.ca_cert_file.clear();
  auto untrusted = Connect(settings);
  EXPECT_EQ(untrusted.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(untrusted.status().message()), HasSubstr("amqps://"));
  // A CA file that does not exist is a configuration error.
  settings.connection.ca_cert_file = "/nonexistent/ca.pem";
  auto missing = Connect(settings);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("/nonexistent/ca.pem"));
}

TEST(RabbitMqTlsTest, MutualTlsNeedsAClientCertificateOfTheBrokersCa) {
  RabbitMqServer::Options options;
  options.tls = true;
  options.mutual_tls = true;
  auto broker = RabbitMqServer::Start(options);
  ASSERT_TRUE(broker.ok()) << broker.status();
  Settings settings = TlsSettings(**broker);

  // No client certificate: the broker ends the handshake.
  auto anonymous = Connect(settings);
  EXPECT_EQ(anonymous.status().code(), absl::StatusCode::kUnavailable)
      << anonymous.status();
  EXPECT_THAT(std::string(anonymous.status().message()),
              HasSubstr("set tls.client_cert and tls.client_key"));
  // A certificate of a CA the broker does not trust: refused too.
  settings.connection.client_cert_file = (*broker)->stranger_cert();
  settings.connection.client_key_file = (*broker)->stranger_key();
  auto stranger = Connect(settings);
  EXPECT_EQ(stranger.status().code(), absl::StatusCode::kUnavailable)
      << stranger.status();

  // The bridge's own certificate: events flow.
  settings.connection.client_cert_file = (*broker)->client_cert();
  settings.connection.client_key_file = (*broker)->client_key();
  auto t = Connect(settings);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_NO_FATAL_FAILURE(ExpectRoundTrip(**t, "mtls.q", "mutual"));
}

TEST(RabbitMqTransportTest, RegisteredByName) {
  EXPECT_THAT(TransportRegistry::Global().Names(),
              ::testing::Contains("rabbitmq"));
}

// DeclareQueue and GetQueueStats run on gRPC threads. With the broker gone
// they used to wait for the publisher thread without bound (until the
// broker came back); now they answer DEADLINE_EXCEEDED naming the broker.
TEST(RabbitMqTransportTest,
     CallsFromGrpcThreadsAreBoundedWhileTheBrokerIsGone) {
  auto broker = switchboard::testing::RabbitMqServer::Start();
  ASSERT_TRUE(broker.ok()) << broker.status();
  Settings settings;
  settings.connection.nodes = {{"127.0.0.1", (*broker)->amqp_port()}};
  settings.reconnect_initial = absl::Milliseconds(50);
  settings.reconnect_max = absl::Milliseconds(200);
  settings.command_timeout = absl::Milliseconds(500);
  auto t = Connect(settings);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_TRUE((*t)->DeclareQueue("bounded.q", {}).ok());
  (*broker)->Kill();

  absl::Notification answered;
  absl::Status declared, listed;
  std::thread call([&] {
    declared = (*t)->DeclareQueue("bounded.other", {});
    listed = (*t)->GetQueueStats({}).status();
    answered.Notify();
  });
  // Generous: only a call that never returns fails here.
  const bool in_time =
      answered.WaitForNotificationWithTimeout(absl::Seconds(30));
  if (!in_time) {
    ASSERT_TRUE((*broker)->Restart().ok());  // lets it return
  }
  call.join();
  ASSERT_TRUE(in_time) << "DeclareQueue waited for the broker without bound";
  // The first call may be the one that finds the connection dead.
  EXPECT_TRUE(absl::IsUnavailable(declared) ||
              absl::IsDeadlineExceeded(declared))
      << declared;
  // The next waits for a reconnection that cannot happen: bounded.
  EXPECT_EQ(listed.code(), absl::StatusCode::kDeadlineExceeded) << listed;
  EXPECT_THAT(std::string(listed.message()), HasSubstr("command_timeout"));
}

TEST(RabbitMqTransportTest, ConnectsToTheFirstReachableNode) {
  Settings s = BrokerSettings();
  const BrokerNode live = s.connection.nodes[0];
  s.connection.nodes = {{"127.0.0.1", 1}, live};
  auto t = Connect(s);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->connected_to(), s.connection.Describe(1));
  // Subscriptions skip the dead node too.
  ASSERT_TRUE((*t)->DeclareQueue("nodes.q", QueueOptions{}).ok());
  DeliveryCollector got;
  auto sub = (*t)->Subscribe(SubscribeOptions{{"nodes.q"}, 10}, got.handler());
  ASSERT_TRUE(sub.ok()) << sub.status();
  ASSERT_TRUE(PublishIds(**t, "nodes.q", {"n1"}).ok());
  std::vector<Delivery> d = got.WaitFor(1);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].id, "n1");
}

}  // namespace
}  // namespace switchboard::bridge::rabbitmq
