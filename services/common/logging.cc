#include "services/common/logging.h"

#include <unistd.h>

#include <atomic>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "spdlog/formatter.h"
#include "spdlog/sinks/stdout_color_sinks.h"

namespace switchboard {
namespace {

constexpr char kTextPattern[] = "%Y-%m-%dT%H:%M:%S.%e %^%L%$ [%n] %v";

std::atomic<bool> json_format{false};

void AppendJsonString(absl::string_view text, spdlog::memory_buf_t& dest) {
  dest.push_back('"');
  for (const char c : text) {
    switch (c) {
      case '"': dest.append(absl::string_view("\\\"")); break;
      case '\\': dest.append(absl::string_view("\\\\")); break;
      case '\n': dest.append(absl::string_view("\\n")); break;
      case '\r': dest.append(absl::string_view("\\r")); break;
      case '\t': dest.append(absl::string_view("\\t")); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          const std::string escaped =
              absl::StrCat("\\u00", absl::Hex(c, absl::kZeroPad2));
          dest.append(escaped.data(), escaped.data() + escaped.size());
        } else {
          dest.push_back(c);
        }
    }
  }
  dest.push_back('"');
}

void Append(spdlog::memory_buf_t& dest, absl::string_view text) {
  dest.append(text.data(), text.data() + text.size());
}

// One JSON object per line (README "Logs").
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg,
              spdlog::memory_buf_t& dest) override {
    Append(dest, "{\"time\":\"");
    Append(dest, absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ",
                                  absl::FromChrono(msg.time),
                                  absl::UTCTimeZone()));
    Append(dest, "\",\"level\":\"");
    const auto level = spdlog::level::to_string_view(msg.level);
    Append(dest, absl::string_view(level.data(), level.size()));
    Append(dest, "\",\"component\":");
    AppendJsonString(absl::string_view(msg.logger_name.data(),
                                       msg.logger_name.size()),
                     dest);
    Append(dest, ",\"message\":");
    AppendJsonString(
        absl::string_view(msg.payload.data(), msg.payload.size()), dest);
    Append(dest, absl::StrCat(",\"fields\":{\"pid\":", getpid(),
                              ",\"thread\":", msg.thread_id, "}}\n"));
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

void ApplyFormat(const std::shared_ptr<spdlog::logger>& logger) {
  if (json_format.load()) {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger->set_pattern(kTextPattern);
  }
}

absl::Mutex loggers_mu(absl::kConstInit);

}  // namespace

std::shared_ptr<spdlog::logger> Logger(const std::string& component) {
  // spdlog throws on a duplicate name, so look-up and creation are one step.
  absl::MutexLock lock(&loggers_mu);
  if (auto existing = spdlog::get(component)) return existing;
  auto logger = spdlog::stderr_color_mt(component);
  ApplyFormat(logger);
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

absl::Status SetLogFormat(const std::string& format) {
  if (format != "text" && format != "json") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown log format '", format, "' (known: text, json)"));
  }
  absl::MutexLock lock(&loggers_mu);
  json_format = format == "json";
  spdlog::apply_all(ApplyFormat);
  return absl::OkStatus();
}

}  // namespace switchboard
