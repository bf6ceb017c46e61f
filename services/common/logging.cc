#include "services/common/logging.h"

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "spdlog/sinks/stdout_color_sinks.h"

namespace switchboard {

std::shared_ptr<spdlog::logger> Logger(const std::string& component) {
  // spdlog throws on a duplicate name, so look-up and creation are one step.
  static absl::Mutex mu(absl::kConstInit);
  absl::MutexLock lock(&mu);
  if (auto existing = spdlog::get(component)) return existing;
  auto logger = spdlog::stderr_color_mt(component);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%L%$ [%n] %v");
  return logger;
}

absl::Status SetLogLevel(const std::string& level) {
  auto parsed = spdlog::level::from_str(level);
  // from_str maps unknown names to "off"; only "off" itself may mean off.
  if (parsed == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown log level '", level,
        "' (known: trace, debug, info, warn, error, critical, off)"));
  }
  spdlog::set_level(parsed);
  return absl::OkStatus();
}

}  // namespace switchboard
