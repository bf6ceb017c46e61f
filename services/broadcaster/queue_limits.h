#ifndef SWITCHBOARD_SERVICES_BROADCASTER_QUEUE_LIMITS_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_QUEUE_LIMITS_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "re2/re2.h"
#include "services/common/config.h"
#include "switchboard/v1/bridge.pb.h"

namespace switchboard::broadcaster {

// The `queue_limits` section: the bounds and overflow policy the bridge
// declares each queue with, by queue name.
//
//   queue_limits:
//     default: {max_length: 100000, max_bytes: 0, message_ttl: 0s,
//               expires: 0s, overflow: drop-head}
//     patterns:                      # first match (in file order) wins
//       'region\..*': {overflow: dead-letter}
//
// A pattern's entry starts from `default` and changes what it names.
// Patterns are RE2, matched against the whole queue name. Immutable;
// thread-safe.
class QueueLimitRules {
 public:
  // Every queue gets the built-in default.
  QueueLimitRules();

  // Errors name the field: "queue_limits.patterns.region\..*.overflow: ...".
  static absl::StatusOr<QueueLimitRules> Parse(const ConfigNode& node);

  // The limits for `queue`.
  const switchboard::v1::QueueLimits& For(absl::string_view queue) const;

  const switchboard::v1::QueueLimits& default_limits() const {
    return default_;
  }

 private:
  switchboard::v1::QueueLimits default_;
  std::vector<std::pair<std::shared_ptr<const RE2>, switchboard::v1::QueueLimits>>
      patterns_;
};

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_QUEUE_LIMITS_H_
