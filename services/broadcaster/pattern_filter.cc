#include "services/broadcaster/pattern_filter.h"

#include "absl/strings/str_cat.h"
#include "re2/re2.h"
#include "services/common/status_macros.h"

namespace switchboard::broadcaster {
namespace {

// Compiles `patterns` (the list at `key` of `node`) into one anchored set;
// nullptr for an empty list.
absl::StatusOr<std::shared_ptr<const RE2::Set>> Compile(
    const ConfigNode& node, absl::string_view key,
    const std::vector<std::string>& patterns) {
  if (patterns.empty()) return nullptr;
  RE2::Options options;
  // Errors are returned with the field named; RE2's own stderr logging
  // would only duplicate them.
  options.set_log_errors(false);
  auto set = std::make_shared<RE2::Set>(options, RE2::ANCHOR_BOTH);
  for (size_t i = 0; i < patterns.size(); ++i) {
    std::string error;
    if (set->Add(patterns[i], &error) < 0) {
      return node.Error(
          absl::StrCat(key, "[", i, "]"),
          absl::StrCat("invalid pattern '", patterns[i], "': ", error));
    }
  }
  if (!set->Compile()) {
    return node.Error(key,
                      "the patterns together exceed RE2's memory budget; "
                      "simplify or split them");
  }
  return set;
}

}  // namespace

absl::StatusOr<PatternFilter> PatternFilter::Parse(const ConfigNode& node) {
  std::vector<std::string> allow;
  std::vector<std::string> deny;
  SB_RETURN_IF_ERROR(node.Get("allow", &allow));
  SB_RETURN_IF_ERROR(node.Get("deny", &deny));
  PatternFilter filter;
  SB_ASSIGN_OR_RETURN(filter.allow_, Compile(node, "allow", allow));
  SB_ASSIGN_OR_RETURN(filter.deny_, Compile(node, "deny", deny));
  return filter;
}

bool PatternFilter::Passes(absl::string_view text) const {
  // This RE2 predates absl::string_view support.
  const re2::StringPiece piece(text.data(), text.size());
  if (deny_ != nullptr && deny_->Match(piece, nullptr)) return false;
  return allow_ == nullptr || allow_->Match(piece, nullptr);
}

}  // namespace switchboard::broadcaster
