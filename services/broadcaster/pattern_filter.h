#ifndef SWITCHBOARD_SERVICES_BROADCASTER_PATTERN_FILTER_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_PATTERN_FILTER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "re2/set.h"
#include "services/common/config.h"

namespace switchboard::broadcaster {

// Allow and deny lists of regular expressions, each matched against the
// whole of a string (an event type, or a source app). A string passes when
// the allow list is empty or one of its patterns matches, and no deny
// pattern matches: deny wins.
//
// Patterns are RE2 syntax, compiled once: matching is linear in the
// string's length whatever the pattern, so a hostile or careless pattern
// cannot stall the publishing path.
//
// Immutable and cheap to copy (the compiled sets are shared); thread-safe.
class PatternFilter {
 public:
  // Passes everything.
  PatternFilter() = default;

  // Reads the `allow` and `deny` lists of `node`. An invalid pattern is an
  // InvalidArgument naming the field, its index, the pattern and RE2's
  // reason, e.g. "filters.deny[1]: invalid pattern 'a(': missing ): a(".
  static absl::StatusOr<PatternFilter> Parse(const ConfigNode& node);

  bool Passes(absl::string_view text) const;

  // True when no pattern was given.
  bool passes_everything() const {
    return allow_ == nullptr && deny_ == nullptr;
  }

 private:
  std::shared_ptr<const RE2::Set> allow_;
  std::shared_ptr<const RE2::Set> deny_;
};

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_PATTERN_FILTER_H_
