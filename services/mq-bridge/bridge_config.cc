#include "services/mq-bridge/bridge_config.h"

#include <algorithm>
#include <vector>

#include "services/common/status_macros.h"

namespace switchboard::bridge {

absl::StatusOr<ParsedBridgeConfig> ParseBridgeConfig(
    const ConfigNode& config, const std::string& listen_override) {
  ParsedBridgeConfig out;
  BridgeConfig& parsed = out.config;
  SB_RETURN_IF_ERROR(config.Get("listen", &parsed.listen));
  SB_RETURN_IF_ERROR(
      config.Get("max_pending_batches", &parsed.max_pending_batches));
  SB_ASSIGN_OR_RETURN(ConfigNode transport, config.Child("transport"));
  SB_ASSIGN_OR_RETURN(ConfigNode health, config.Child("health"));
  SB_RETURN_IF_ERROR(config.CheckAllKeysKnown());
  SB_RETURN_IF_ERROR(
      health.Get("transport_timeout", &parsed.transport_timeout));
  SB_RETURN_IF_ERROR(health.CheckAllKeysKnown());
  if (parsed.transport_timeout < absl::Milliseconds(100)) {
    return health.Error("transport_timeout", "must be at least 100ms");
  }
  SB_RETURN_IF_ERROR(transport.Get("driver", &parsed.driver));
  if (!listen_override.empty()) parsed.listen = listen_override;
  if (parsed.listen.empty()) return config.Error("listen", "must be set");
  if (parsed.max_pending_batches == 0) {
    return config.Error("max_pending_batches", "must be at least 1");
  }
  // Every registered driver may keep a settings section; only the chosen
  // one's is read.
  for (const std::string& name : TransportRegistry::Global().Names()) {
    SB_ASSIGN_OR_RETURN(ConfigNode section, transport.Child(name));
    if (name == parsed.driver) out.driver_settings = section;
  }
  SB_RETURN_IF_ERROR(transport.CheckAllKeysKnown());
  const std::vector<std::string> known = TransportRegistry::Global().Names();
  if (std::find(known.begin(), known.end(), parsed.driver) == known.end()) {
    // Keep the registry's NotFound, with the field named.
    auto missing = TransportRegistry::Global().Create(parsed.driver, {});
    return absl::NotFoundError(
        transport.Error("driver", missing.status().message()).message());
  }
  return out;
}

}  // namespace switchboard::bridge
