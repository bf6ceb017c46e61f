#include "services/common/logging.h"

#include <unistd.h>

#include <atomic>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpc/support/log.h"
#include "spdlog/formatter.h"
#include "spdlog/sinks/stdout_color_sinks.h"

namespace switchboard {
namespace {

constexpr char kTextPattern[] = "%Y-%m-%dT%H:%M:%S.%e %^%L%$ [%n] %v";

std::atomic<bool> json_format{false};

// The length of the valid UTF-8 sequence at the start of `text`, 0 if
// there is none (overlong forms, surrogates and code points past U+10FFFF
// are not valid).
size_t Utf8SequenceLength(absl::string_view text) {
  const auto byte = [&text](size_t i) {
    return static_cast<unsigned char>(text[i]);
  };
  const unsigned char b0 = byte(0);
  size_t n;
  uint32_t code;
  if (b0 < 0x80) return 1;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    n = 2;
    code = b0 & 0x1f;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    n = 3;
    code = b0 & 0x0f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    n = 4;
    code = b0 & 0x07;
  } else {
    return 0;
  }
  if (text.size() < n) return 0;
  for (size_t i = 1; i < n; ++i) {
    if ((byte(i) & 0xc0) != 0x80) return 0;
    code = (code << 6) | (byte(i) & 0x3f);
  }
  if ((n == 3 && (code < 0x800 || (code >= 0xd800 && code <= 0xdfff))) ||
      (n == 4 && (code < 0x10000 || code > 0x10ffff))) {
    return 0;
  }
  return n;
}

// `text` as a JSON string: escaped, and with each byte that is not part of
// valid UTF-8 replaced by U+FFFD, so that every line stays valid JSON
// whatever a client put in an id or a broker in a message.
void AppendJsonString(absl::string_view text, spdlog::memory_buf_t& dest) {
  dest.push_back('"');
  while (!text.empty()) {
    const char c = text[0];
    const size_t n = Utf8SequenceLength(text);
    if (n == 0) {
      dest.append(absl::string_view("\\ufffd"));
      text.remove_prefix(1);
      continue;
    }
    if (n > 1) {
      dest.append(text.data(), text.data() + n);
      text.remove_prefix(n);
      continue;
    }
    text.remove_prefix(1);
    switch (c) {
      case '"': dest.append(absl::string_view("\\\"")); break;
      case '\\': dest.append(absl::string_view("\\\\")); break;
      case '\n': dest.append(absl::string_view("\\n")); break;
      case '\r': dest.append(absl::string_view("\\r")); break;
      case '\t': dest.append(absl::string_view("\\t")); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
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

std::unique_ptr<spdlog::formatter> NewJsonFormatter() {
  return std::make_unique<JsonFormatter>();
}

void ForwardGrpcLogs() {
  gpr_set_log_function([](gpr_log_func_args* args) {
    auto log = Logger("grpc");
    const auto level = args->severity == GPR_LOG_SEVERITY_ERROR
                           ? spdlog::level::err
                       : args->severity == GPR_LOG_SEVERITY_INFO
                           ? spdlog::level::info
                           : spdlog::level::debug;
    log->log(level, "{} ({}:{})", args->message, args->file, args->line);
  });
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
