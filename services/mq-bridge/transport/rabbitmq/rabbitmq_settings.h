#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_RABBITMQ_SETTINGS_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_RABBITMQ_SETTINGS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/common/config.h"
#include "services/mq-bridge/transport/rabbitmq/connection_settings.h"

namespace switchboard::bridge::rabbitmq {

// The `transport.rabbitmq` settings of the "rabbitmq" driver.
struct Settings {
  ConnectionSettings connection;
  std::string exchange = "switchboard";
  // "classic" or "quorum" (x-queue-type).
  std::string queue_type = "classic";
  // Durable queues and persistent messages: they survive a broker
  // restart.
  bool durable = true;
  uint32_t confirm_window = 10000;
  // Deliveries of one event that end unacked (nacked with requeue, or
  // returned by a subscriber that went away) before it is moved to the
  // dead-letter queue "dead.<queue>" instead of looping forever; 0 never
  // dead-letters. Not for last-value queues.
  uint32_t max_deliveries = 10;
  // While deliveries keep arriving, how long a subscription waits to
  // hand them over in one batch; 0 hands over every read at once.
  absl::Duration delivery_linger = absl::Milliseconds(1);
  absl::Duration reconnect_initial = absl::Milliseconds(100);
  absl::Duration reconnect_max = absl::Seconds(5);
  // How long a declaration or a stats look-up may wait for the broker
  // (they run on gRPC threads).
  absl::Duration command_timeout = absl::Seconds(5);
};

// Reads `transport.rabbitmq` settings; see README.md. The password comes
// from `password_file`, else the environment variable named by
// `password_env` (default SWITCHBOARD_RABBITMQ_PASSWORD), else
// `password`, else "guest".
absl::StatusOr<Settings> ParseSettings(const ConfigNode& config);

// One entry of `transport.rabbitmq.nodes`: "host:port", "host" (port
// 5672) or "[ipv6]:port". InvalidArgument says what is wrong with it.
absl::StatusOr<BrokerNode> ParseBrokerNode(absl::string_view text);

}  // namespace switchboard::bridge::rabbitmq

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_RABBITMQ_SETTINGS_H_
