#include "services/broadcaster/queue_limits.h"

#include "absl/strings/str_cat.h"
#include "services/common/status_macros.h"

namespace switchboard::broadcaster {
namespace {

using switchboard::v1::QueueLimits;

// Reads the keys of one limits mapping over `limits`.
absl::Status ParseLimits(const ConfigNode& node, QueueLimits* limits) {
  uint64_t max_length = limits->max_length();
  uint64_t max_bytes = limits->max_bytes();
  absl::Duration ttl = absl::Milliseconds(limits->message_ttl_ms());
  absl::Duration expires = absl::Milliseconds(limits->expires_ms());
  std::string overflow;
  switch (limits->overflow()) {
    case QueueLimits::REJECT_PUBLISH:
      overflow = "reject-publish";
      break;
    case QueueLimits::DEAD_LETTER:
      overflow = "dead-letter";
      break;
    default:
      overflow = "drop-head";
  }
  SB_RETURN_IF_ERROR(node.Get("max_length", &max_length));
  SB_RETURN_IF_ERROR(node.Get("max_bytes", &max_bytes));
  SB_RETURN_IF_ERROR(node.Get("message_ttl", &ttl));
  SB_RETURN_IF_ERROR(node.Get("expires", &expires));
  SB_RETURN_IF_ERROR(node.Get("overflow", &overflow));
  SB_RETURN_IF_ERROR(node.CheckAllKeysKnown());
  if (ttl < absl::ZeroDuration()) {
    return node.Error("message_ttl", "must not be negative (0s = none)");
  }
  if (expires < absl::ZeroDuration()) {
    return node.Error("expires", "must not be negative (0s = never)");
  }
  if (expires > absl::ZeroDuration() && expires < absl::Seconds(1)) {
    // RabbitMQ's floor is 1 ms; a queue that vanishes between two batches
    // would only cost redeclarations.
    return node.Error("expires", "must be 0s (never) or at least 1s");
  }
  if (overflow == "drop-head") {
    limits->set_overflow(QueueLimits::DROP_HEAD);
  } else if (overflow == "reject-publish") {
    limits->set_overflow(QueueLimits::REJECT_PUBLISH);
  } else if (overflow == "dead-letter") {
    limits->set_overflow(QueueLimits::DEAD_LETTER);
  } else {
    return node.Error("overflow",
                      absl::StrCat("expected drop-head, reject-publish or "
                                   "dead-letter, got '",
                                   overflow, "'"));
  }
  limits->set_max_length(max_length);
  limits->set_max_bytes(max_bytes);
  limits->set_message_ttl_ms(absl::ToInt64Milliseconds(ttl));
  limits->set_expires_ms(absl::ToInt64Milliseconds(expires));
  return absl::OkStatus();
}

}  // namespace

QueueLimitRules::QueueLimitRules() {
  // An unread queue keeps its newest 100,000 events and never blocks the
  // others.
  default_.set_max_length(100000);
  default_.set_overflow(QueueLimits::DROP_HEAD);
}

absl::StatusOr<QueueLimitRules> QueueLimitRules::Parse(const ConfigNode& node) {
  QueueLimitRules rules;
  SB_ASSIGN_OR_RETURN(ConfigNode defaults, node.Child("default"));
  SB_ASSIGN_OR_RETURN(ConfigNode patterns, node.Child("patterns"));
  SB_RETURN_IF_ERROR(node.CheckAllKeysKnown());
  SB_RETURN_IF_ERROR(ParseLimits(defaults, &rules.default_));
  for (const std::string& pattern : patterns.Keys()) {
    RE2::Options options;
    options.set_log_errors(false);
    auto re = std::make_shared<const RE2>(pattern, options);
    if (!re->ok()) {
      return patterns.Error(pattern, absl::StrCat("invalid pattern '", pattern,
                                                  "': ", re->error()));
    }
    SB_ASSIGN_OR_RETURN(ConfigNode entry, patterns.Child(pattern));
    QueueLimits limits = rules.default_;
    SB_RETURN_IF_ERROR(ParseLimits(entry, &limits));
    rules.patterns_.emplace_back(std::move(re), limits);
  }
  return rules;
}

const QueueLimits& QueueLimitRules::For(absl::string_view queue) const {
  for (const auto& [re, limits] : patterns_) {
    if (RE2::FullMatch(re2::StringPiece(queue.data(), queue.size()), *re)) {
      return limits;
    }
  }
  return default_;
}

}  // namespace switchboard::broadcaster
