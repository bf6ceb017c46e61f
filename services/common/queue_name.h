#ifndef SWITCHBOARD_SERVICES_COMMON_QUEUE_NAME_H_
#define SWITCHBOARD_SERVICES_COMMON_QUEUE_NAME_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace switchboard {

// Longest queue name: AMQP allows 255 bytes; the rest is kept for prefixes
// such as a dead-letter suffix.
inline constexpr size_t kMaxQueueNameLength = 200;

// OK when `name` is 1 to kMaxQueueNameLength characters from
// [A-Za-z0-9._:-], the characters every driver accepts as they are.
absl::Status ValidateQueueName(absl::string_view name);

// Turns free text (an app name such as "kytos/topology") into a queue name
// part: characters outside [A-Za-z0-9_:-] become '.', so "kytos/topology"
// becomes "kytos.topology".
std::string SanitizeQueueNamePart(absl::string_view text);

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_COMMON_QUEUE_NAME_H_
