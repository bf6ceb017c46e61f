#include "services/common/queue_name.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace switchboard {
namespace {

bool IsQueueNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' ||
         c == '_' || c == ':' || c == '-';
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

std::string SanitizeQueueNamePart(absl::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (!IsQueueNameChar(c)) c = '.';
  }
  return out;
}

}  // namespace switchboard
