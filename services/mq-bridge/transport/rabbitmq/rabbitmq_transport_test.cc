#include "services/mq-bridge/transport/rabbitmq/rabbitmq_transport.h"

#include <stdlib.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/mq-bridge/transport/conformance/transport_conformance.h"
#include "services/mq-bridge/transport/registry.h"
#include "tests/testing/rabbitmq_server.h"

namespace switchboard::bridge::rabbitmq {
namespace {

using switchboard::testing::RabbitMqServer;
using ::testing::HasSubstr;
using testing::TransportConformanceTest;

// One private broker for the whole test binary: starting one takes ~6 s.
RabbitMqServer* broker = nullptr;

class BrokerEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    auto started = RabbitMqServer::Start();
    ASSERT_TRUE(started.ok()) << started.status();
    broker = started->release();
  }
  void TearDown() override {
    delete broker;
    broker = nullptr;
  }
};

const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new BrokerEnvironment);

RabbitMqTransport::Settings BrokerSettings() {
  RabbitMqTransport::Settings s;
  s.connection.port = broker->amqp_port();
  s.reconnect_initial = absl::Milliseconds(50);
  s.reconnect_max = absl::Milliseconds(500);
  return s;
}

std::unique_ptr<Transport> ConnectWithQueueType(const std::string& type) {
  RabbitMqTransport::Settings settings = BrokerSettings();
  settings.queue_type = type;
  auto t = RabbitMqTransport::Connect(settings);
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

absl::StatusOr<RabbitMqTransport::Settings> Parse(const std::string& yaml) {
  auto node = ConfigNode::Parse(yaml, "bridge.yaml");
  if (!node.ok()) return node.status();
  return RabbitMqTransport::ParseSettings(*node);
}

TEST(RabbitMqSettingsTest, DefaultsAndErrorsNameTheField) {
  auto defaults = Parse("{}");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->connection.port, 5672);
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
       }) {
    auto s = Parse(yaml);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << yaml;
    EXPECT_THAT(std::string(s.status().message()),
                HasSubstr("bridge.yaml: " + expected));
  }
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
  EXPECT_THAT(s->connection.Describe(), ::testing::Not(HasSubstr("from-")));
}

TEST(RabbitMqTransportTest, WrongPasswordIsPermissionDeniedWithoutThePassword) {
  RabbitMqTransport::Settings s = BrokerSettings();
  s.connection.password = "not-the-password";
  auto t = RabbitMqTransport::Connect(s);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kPermissionDenied)
      << t.status();
  EXPECT_THAT(std::string(t.status().message()),
              ::testing::Not(HasSubstr("not-the-password")));
}

TEST(RabbitMqTransportTest, UnknownVhostIsPermissionDenied) {
  RabbitMqTransport::Settings s = BrokerSettings();
  s.connection.vhost = "no-such-vhost";
  auto t = RabbitMqTransport::Connect(s);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kPermissionDenied)
      << t.status();
}

TEST(RabbitMqTransportTest, UnreachableBrokerIsUnavailableAndNamesIt) {
  RabbitMqTransport::Settings s = BrokerSettings();
  s.connection.port = 1;
  auto t = RabbitMqTransport::Connect(s);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(t.status().message()),
              HasSubstr("amqp://guest@127.0.0.1:1/"));
}

TEST(RabbitMqTransportTest, RegisteredByName) {
  EXPECT_THAT(TransportRegistry::Global().Names(),
              ::testing::Contains("rabbitmq"));
}

}  // namespace
}  // namespace switchboard::bridge::rabbitmq
