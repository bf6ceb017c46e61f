#ifndef SWITCHBOARD_TESTS_TESTING_RABBITMQ_ENVIRONMENT_H_
#define SWITCHBOARD_TESTS_TESTING_RABBITMQ_ENVIRONMENT_H_

#include "tests/testing/rabbitmq_server.h"

namespace switchboard::testing {

// One private broker for the whole test binary that links this library
// (starting one takes ~6 s): started before the first test, stopped after
// the last.
RabbitMqServer& SharedRabbitMq();

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_RABBITMQ_ENVIRONMENT_H_
