// QueueNameFor and ValidateQueueName (services/common/queue_name.h).
//
// Input: one byte choosing the prefix, then the text; a '\0' in the text
// splits off a second text. Invariants: the name is valid, starts with the
// prefix, is stable, is the readable form for plain text, and two
// different texts never share a name.
#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "services/common/queue_name.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using switchboard::kMaxQueueNameLength;
using switchboard::QueueNameFor;
using switchboard::ValidateQueueName;

// The prefixes the services use, and the longest QueueNameFor allows.
const std::string kPrefixes[] = {
    "app.", "link.", "x", "a.b:c-d_e.",
    std::string(kMaxQueueNameLength - 18, 'p'),
};

bool IsPlain(absl::string_view text) {
  for (char c : text) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                    c == ':' || c == '/';
    if (!ok) return false;
  }
  return !text.empty();
}

bool EndsLikeHash(absl::string_view name) {
  if (name.size() < 17 || name[name.size() - 17] != ':') return false;
  for (char c : name.substr(name.size() - 16)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string& prefix =
      kPrefixes[data[0] % (sizeof(kPrefixes) / sizeof(kPrefixes[0]))];
  absl::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);

  // Any text: validation never fails on anything but its verdict.
  (void)ValidateQueueName(rest).ok();

  absl::string_view a = rest, b;
  const size_t split = rest.find('\0');
  const bool two = split != absl::string_view::npos;
  if (two) {
    a = rest.substr(0, split);
    b = rest.substr(split + 1);
  }

  const std::string name = QueueNameFor(prefix, a);
  const absl::Status valid = ValidateQueueName(name);
  SB_FUZZ_CHECK(valid.ok(), "%s", std::string(valid.message()).c_str());
  SB_FUZZ_CHECK(absl::StartsWith(name, prefix), "'%s'", name.c_str());
  SB_FUZZ_CHECK(name == QueueNameFor(prefix, a), "'%s' is not stable",
                name.c_str());
  const std::string readable =
      prefix + absl::StrReplaceAll(a, {{"/", "."}});
  if (IsPlain(a) && readable.size() <= kMaxQueueNameLength &&
      !EndsLikeHash(readable)) {
    SB_FUZZ_CHECK(name == readable, "'%s' instead of '%s'", name.c_str(),
                  readable.c_str());
  } else {
    SB_FUZZ_CHECK(EndsLikeHash(name), "'%s' has no hash suffix",
                  name.c_str());
  }
  if (two && a != b) {
    const std::string other = QueueNameFor(prefix, b);
    SB_FUZZ_CHECK(name != other, "two texts share the queue '%s'",
                  name.c_str());
  }
  return 0;
}
