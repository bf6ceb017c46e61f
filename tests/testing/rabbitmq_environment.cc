#include "tests/testing/rabbitmq_environment.h"

#include <cstdlib>
#include <iostream>

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

}  // namespace switchboard::testing
