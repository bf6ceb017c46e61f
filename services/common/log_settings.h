#ifndef SWITCHBOARD_SERVICES_COMMON_LOG_SETTINGS_H_
#define SWITCHBOARD_SERVICES_COMMON_LOG_SETTINGS_H_

#include <string>

#include "absl/status/statusor.h"
#include "services/common/config.h"

namespace switchboard {

// The `log` section every service's config shares; a reload applies it
// (README "Logs").
struct LogSettings {
  // text or json (one object per line).
  std::string format = "text";
  // trace, debug, info, warn, error, critical or off; "" keeps --log_level.
  std::string level;

  // Errors name the field (log.format, log.level).
  static absl::StatusOr<LogSettings> Parse(const ConfigNode& root);
  // Sets every logger's format and level (an empty level: the one
  // SetDefaultLevel recorded, info if none).
  absl::Status Apply() const;

  // The level an empty `level` stands for (--log_level); applied now too.
  static absl::Status SetDefaultLevel(const std::string& level);
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_COMMON_LOG_SETTINGS_H_
