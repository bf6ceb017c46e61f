#include "services/common/log_settings.h"

#include <string>

#include "absl/synchronization/mutex.h"

#include "services/common/logging.h"
#include "services/common/status_macros.h"
#include "spdlog/spdlog.h"

namespace switchboard {
namespace {

absl::Mutex default_level_mu(absl::kConstInit);
std::string* default_level ABSL_GUARDED_BY(default_level_mu) = nullptr;

std::string DefaultLevel() {
  absl::MutexLock lock(&default_level_mu);
  return default_level != nullptr ? *default_level : "info";
}

}  // namespace

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
  return SetLogLevel(level.empty() ? DefaultLevel() : level);
}

absl::Status LogSettings::SetDefaultLevel(const std::string& level) {
  SB_RETURN_IF_ERROR(SetLogLevel(level));
  absl::MutexLock lock(&default_level_mu);
  delete default_level;
  default_level = new std::string(level);
  return absl::OkStatus();
}

}  // namespace switchboard
