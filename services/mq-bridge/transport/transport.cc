#include "services/mq-bridge/transport/transport.h"

#include "absl/strings/str_cat.h"

namespace switchboard::bridge {

absl::string_view OverflowPolicyName(OverflowPolicy policy) {
  switch (policy) {
    case OverflowPolicy::kDropHead:
      return "drop-head";
    case OverflowPolicy::kRejectPublish:
      return "reject-publish";
    case OverflowPolicy::kDeadLetter:
      return "dead-letter";
  }
  return "unknown";
}

absl::StatusOr<OverflowPolicy> ParseOverflowPolicyName(absl::string_view name) {
  for (OverflowPolicy p :
       {OverflowPolicy::kDropHead, OverflowPolicy::kRejectPublish,
        OverflowPolicy::kDeadLetter}) {
    if (name == OverflowPolicyName(p)) return p;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown overflow policy '", name,
                   "': expected drop-head, reject-publish or dead-letter"));
}

}  // namespace switchboard::bridge
