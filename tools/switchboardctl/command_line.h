#ifndef SWITCHBOARD_TOOLS_SWITCHBOARDCTL_COMMAND_LINE_H_
#define SWITCHBOARD_TOOLS_SWITCHBOARDCTL_COMMAND_LINE_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard::ctl {

// What PreParseCommandLine learnt about argv before absl::ParseCommandLine
// sees it.
struct PreParsedCommandLine {
  // argv to hand to absl::ParseCommandLine (see PreParseCommandLine for the
  // rewrites).
  std::vector<std::string> args;
  // Canonical names of the flags given ("no_ack", "stdin" for --nostdin).
  std::set<std::string> flags_given;
  // Every value given to each flag, in order ("false" for --nostdin), so a
  // repeated list flag can accumulate rather than keep its last value.
  std::map<std::string, std::vector<std::string>> values;
  // Positional arguments, in order, without argv[0].
  std::vector<std::string> positional;
  // --help, --helpfull, --version and the other absl usage flags: absl
  // prints the help and exits.
  bool usage_requested = false;
};

// Checks argv against the registered absl flags so that mistakes are usage
// errors (exit code 2) with a clear message rather than absl's own exit(1):
// unknown flags, a flag without its value, values that do not parse.
// Follows absl's syntax: -flag and --flag, --flag=value and --flag value for
// non-boolean flags, --noflag for boolean ones, "--" ends the flags.
//
// `switch_like` names string flags that may also be given bare, like a
// boolean: a bare `--name` becomes `--name=true` and `--noname` becomes
// `--name=false`, unless the next argument starts with '{' (then it is the
// value, as in `--json '{"a":1}'`).
//
// Parsing a value sets the flag; absl::ParseCommandLine sets it again to the
// same value.
absl::StatusOr<PreParsedCommandLine> PreParseCommandLine(
    const std::vector<std::string>& argv,
    const std::set<std::string>& switch_like);

// Fails, naming the first one, when `given` holds a flag of `own` (the
// tool's own flags) that is not in `allowed` for `subcommand`.
absl::Status CheckFlagsApply(absl::string_view subcommand,
                             const std::set<std::string>& given,
                             const std::set<std::string>& own,
                             const std::set<std::string>& allowed);

}  // namespace switchboard::ctl

#endif  // SWITCHBOARD_TOOLS_SWITCHBOARDCTL_COMMAND_LINE_H_
