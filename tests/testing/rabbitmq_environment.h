#ifndef SWITCHBOARD_TESTS_TESTING_RABBITMQ_ENVIRONMENT_H_
#define SWITCHBOARD_TESTS_TESTING_RABBITMQ_ENVIRONMENT_H_

#include <string>

#include "tests/testing/rabbitmq_server.h"

namespace switchboard::testing {

// One private broker for the whole test binary that links this library
// (starting one takes ~6 s): started before the first test, stopped after
// the last.
RabbitMqServer& SharedRabbitMq();

// A bridge config (listen on any port) on the shared broker, with its own
// `exchange` so tests sharing the broker stay apart.
std::string SharedRabbitMqBridgeYaml(const std::string& exchange);

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_RABBITMQ_ENVIRONMENT_H_
