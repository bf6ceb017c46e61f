#ifndef SWITCHBOARD_SERVICES_COMMON_LOGGING_H_
#define SWITCHBOARD_SERVICES_COMMON_LOGGING_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "spdlog/formatter.h"
#include "spdlog/spdlog.h"

namespace switchboard {

// The component's named logger ("broadcaster", "bridge.memory", ...), made on
// first use. All loggers write to stderr with the component name, so one
// process's log reads as a story per component.
std::shared_ptr<spdlog::logger> Logger(const std::string& component);

// Sets the level of every logger, present and future: trace, debug, info,
// warn, error, critical or off.
absl::Status SetLogLevel(const std::string& level);

// How every logger, present and future, writes a line:
//   text  2026-12-02T10:00:00.123 I [broadcaster] message
//   json  {"time":"2026-12-02T10:00:00.123456Z","level":"info",
//          "component":"broadcaster","message":"...",
//          "fields":{"pid":12,"thread":13}}   (one object per line)
// InvalidArgument for another name.
absl::Status SetLogFormat(const std::string& format);

// The json format's formatter (for tests and other sinks).
std::unique_ptr<spdlog::formatter> NewJsonFormatter();

// Hands gRPC's own log lines (gpr_log) to Logger("grpc"), so that they
// follow the format and level too.
void ForwardGrpcLogs();

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_COMMON_LOGGING_H_
