#include "services/common/queue_name.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace switchboard {
namespace {

bool IsQueueNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' ||
         c == '_' || c == ':' || c == '-';
}

// Characters kept as they are by QueueNameFor's plain form.
bool IsPlainChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
         c == '-' || c == ':';
}

// ":" + 16 hex digits.
constexpr size_t kHashSuffixLength = 17;

// Whether `name` ends the way a hashed name does.
bool EndsWithHashSuffix(absl::string_view name) {
  if (name.size() < kHashSuffixLength) return false;
  absl::string_view tail = name.substr(name.size() - kHashSuffixLength);
  if (tail[0] != ':') return false;
  for (char c : tail.substr(1)) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) &&
        (c < 'a' || c > 'f')) {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::Status ValidateQueueName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("queue name is empty");
  if (name.size() > kMaxQueueNameLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "queue name '", name.substr(0, 40), "...' is ", name.size(),
        " characters long; the limit is ", kMaxQueueNameLength));
  }
  for (char c : name) {
    if (!IsQueueNameChar(c)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "queue name '", name, "' has a character outside [A-Za-z0-9._:-]"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateQueueNamePrefix(absl::string_view prefix) {
  if (prefix.size() > kMaxQueueNamePrefixLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "queue name prefix '", prefix.substr(0, 40), "...' is ", prefix.size(),
        " characters long; the limit is ", kMaxQueueNamePrefixLength));
  }
  return ValidateQueueName(absl::StrCat(prefix, "x"));
}

uint64_t StableHash(absl::string_view text) {
  uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string QueueNameFor(absl::string_view prefix, absl::string_view text) {
  const size_t room = kMaxQueueNameLength - prefix.size();
  bool plain = !text.empty() && text.size() <= room;
  std::string out(prefix);
  out.reserve(prefix.size() + std::min(text.size(), room));
  for (char c : text) {
    if (IsPlainChar(c)) {
      out.push_back(c);
    } else {
      out.push_back('.');
      plain = plain && c == '/';
    }
  }
  if (plain && !EndsWithHashSuffix(out)) return out;
  out.resize(std::min(out.size(), kMaxQueueNameLength - kHashSuffixLength));
  absl::StrAppend(&out, absl::StrFormat(":%016x", StableHash(text)));
  return out;
}

}  // namespace switchboard
