#include "services/common/log_settings.h"

#include "services/common/logging.h"
#include "services/common/status.h"
#include "spdlog/spdlog.h"

namespace switchboard {

absl::StatusOr<LogSettings> LogSettings::Parse(const ConfigNode& root) {
  LogSettings s;
  SB_ASSIGN_OR_RETURN(ConfigNode node, root.Child("log"));
  SB_RETURN_IF_ERROR(node.Get("format", &s.format));
  SB_RETURN_IF_ERROR(node.Get("level", &s.level));
  SB_RETURN_IF_ERROR(node.CheckAllKeysKnown());
  if (s.format != "text" && s.format != "json") {
    return node.Error("format", "must be text or json, got '" + s.format + "'");
  }
  if (!s.level.empty() && spdlog::level::from_str(s.level) ==
                              spdlog::level::off && s.level != "off") {
    return node.Error("level",
                      "must be trace, debug, info, warn, error, critical or "
                      "off, got '" + s.level + "'");
  }
  return s;
}

absl::Status LogSettings::Apply() const {
  SB_RETURN_IF_ERROR(SetLogFormat(format));
  if (!level.empty()) SB_RETURN_IF_ERROR(SetLogLevel(level));
  return absl::OkStatus();
}

}  // namespace switchboard
