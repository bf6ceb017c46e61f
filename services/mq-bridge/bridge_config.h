#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_BRIDGE_CONFIG_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_BRIDGE_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/config.h"
#include "services/mq-bridge/transport/registry.h"

namespace switchboard::bridge {

// The bridge's settings (bridge.yaml):
//   listen: "127.0.0.1:50053"
//   transport:
//     driver: <name>          # any registered driver; by default the
//                             # registry's DefaultDriver()
//     <name>: {...}           # settings of each driver, under its name
struct BridgeConfig {
  std::string listen = "127.0.0.1:50053";
  std::string driver = TransportRegistry::Global().DefaultDriver();
  // Responses queued on one Produce stream before it stops reading.
  uint32_t max_pending_batches = 64;
  // `health.transport_timeout`: a transport call unanswered this long makes
  // the bridge NOT_SERVING (see TransportHealth).
  absl::Duration transport_timeout = absl::Seconds(10);
};

// A parsed bridge.yaml: the bridge's settings, and the chosen driver's.
struct ParsedBridgeConfig {
  BridgeConfig config;
  // `transport.<driver>`, handed to the registry as it is (the driver
  // checks it when it is created).
  ConfigNode driver_settings;
};

// Reads and validates bridge.yaml, unknown keys included; the driver must be
// registered (NotFound otherwise, naming the field). A non-empty
// `listen_override` replaces `listen`. Every registered driver may keep a
// settings section under `transport`; only the chosen one's is returned.
absl::StatusOr<ParsedBridgeConfig> ParseBridgeConfig(
    const ConfigNode& config, const std::string& listen_override);

}  // namespace switchboard::bridge

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_BRIDGE_CONFIG_H_
