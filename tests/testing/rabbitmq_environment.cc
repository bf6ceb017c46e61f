#include "tests/testing/rabbitmq_environment.h"

#include <cstdlib>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace switchboard::testing {
namespace {

RabbitMqServer* shared = nullptr;

class RabbitMqEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    auto started = RabbitMqServer::Start();
    ASSERT_TRUE(started.ok()) << started.status();
    shared = started->release();
  }
  void TearDown() override {
    delete shared;
    shared = nullptr;
  }
};

const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new RabbitMqEnvironment);

}  // namespace

RabbitMqServer& SharedRabbitMq() {
  if (shared == nullptr) {
    std::cerr << "the shared rabbitmq-server did not start\n";
    std::abort();
  }
  return *shared;
}

std::string SharedRabbitMqBridgeYaml(const std::string& exchange) {
  return absl::StrCat(
      "listen: 127.0.0.1:0\n"
      "transport:\n"
      "  driver: rabbitmq\n"
      "  rabbitmq:\n"
      "    port: ",
      SharedRabbitMq().amqp_port(), "\n    exchange: ", exchange,
      "\n"
      "    reconnect_initial: 50ms\n"
      "    reconnect_max: 500ms\n");
}

}  // namespace switchboard::testing
