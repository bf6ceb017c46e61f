#include "tools/switchboardctl/command_line.h"

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "services/common/status_macros.h"

namespace switchboard::ctl {
namespace {

// Flags absl handles itself, before and beside the registered ones.
bool IsUsageFlag(absl::string_view name) {
  return name == "help" || name == "helpfull" || name == "helpshort" ||
         name == "helppackage" || name == "helpon" || name == "helpmatch" ||
         name == "version" || name == "only_check_args";
}

// absl's own parsing flags: their values are argv files and flag lists, read
// by absl::ParseCommandLine, not by us.
bool IsParsingFlag(absl::string_view name) {
  return name == "flagfile" || name == "fromenv" || name == "tryfromenv" ||
         name == "undefok";
}

// argv as PreParseCommandLine walks it: the argument at `i`, and those
// after it that a flag may take as its value.
struct ArgvCursor {
  const std::vector<std::string>& argv;
  size_t i;

  bool HasNext() const { return i + 1 < argv.size(); }
  const std::string& Next() const { return argv[i + 1]; }
  const std::string& TakeNext() { return argv[++i]; }
};

// A flag argument: "-name", "--name", "--name=value".
struct FlagArg {
  absl::string_view name;
  absl::string_view value;
  bool has_value = false;
};

FlagArg SplitFlagArg(absl::string_view arg) {
  absl::ConsumePrefix(&arg, "-");
  absl::ConsumePrefix(&arg, "-");
  const size_t eq = arg.find('=');
  FlagArg flag;
  flag.has_value = eq != absl::string_view::npos;
  flag.name = arg.substr(0, eq);
  flag.value = flag.has_value ? arg.substr(eq + 1) : "";
  return flag;
}

// A switch-like flag given bare, as if it were --name=text.
void RecordSwitch(absl::string_view name, absl::string_view text,
                  PreParsedCommandLine& result) {
  result.args.push_back(absl::StrCat("--", name, "=", text));
  result.flags_given.insert(std::string(name));
  result.values[std::string(name)].push_back(std::string(text));
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  std::string error;
  if (flag != nullptr) flag->ParseFrom(text, &error);
}

// Switch-like string flags given bare: records `flag` and returns true when
// it is one (see PreParseCommandLine), else leaves it to
// TakeRegisteredFlag.
bool TakeSwitch(const FlagArg& flag, const ArgvCursor& cursor,
                const std::set<std::string>& switch_like,
                PreParsedCommandLine& result) {
  if (flag.has_value) return false;
  if (switch_like.count(std::string(flag.name)) > 0) {
    const bool value_follows =
        cursor.HasNext() &&
        absl::StartsWith(absl::StripLeadingAsciiWhitespace(cursor.Next()), "{");
    if (value_follows) return false;
    RecordSwitch(flag.name, "true", result);
    return true;
  }
  absl::string_view positive = flag.name;
  if (absl::ConsumePrefix(&positive, "no") &&
      switch_like.count(std::string(positive)) > 0 &&
      absl::FindCommandLineFlag(flag.name) == nullptr) {
    RecordSwitch(positive, "false", result);
    return true;
  }
  return false;
}

// The registered flag `name` names; for --noname, a boolean flag `name`
// (then `*negative` is set). Null when there is neither.
absl::CommandLineFlag* FindFlag(absl::string_view name, bool* negative) {
  *negative = false;
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  absl::string_view positive = name;
  if (flag == nullptr && absl::ConsumePrefix(&positive, "no")) {
    flag = absl::FindCommandLineFlag(positive);
    if (flag != nullptr && !flag->IsOfType<bool>()) flag = nullptr;
    *negative = flag != nullptr;
  }
  return flag;
}

// The text of the value `arg` gives `flag` (named `canonical`): a boolean's
// is implied unless given with "="; any other flag's is after "=" or the
// next argument, which is then taken from `cursor` (and kept in args).
absl::StatusOr<std::string> TakeValue(const absl::CommandLineFlag& flag,
                                      const std::string& canonical,
                                      const FlagArg& arg, bool negative,
                                      ArgvCursor& cursor,
                                      PreParsedCommandLine& result) {
  if (flag.IsOfType<bool>()) {
    if (!negative) return arg.has_value ? std::string(arg.value) : "true";
    if (arg.has_value) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", arg.name, " takes no value; use --", canonical, "=false"));
    }
    return "false";
  }
  if (arg.has_value) return std::string(arg.value);
  if (!cursor.HasNext()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", canonical, " is missing its value"));
  }
  std::string text = cursor.TakeNext();
  result.args.push_back(text);
  return text;
}

// A registered flag (or --noflag of a boolean one): recorded, and its value
// parsed, which sets it.
absl::Status TakeRegisteredFlag(const FlagArg& arg, ArgvCursor& cursor,
                                PreParsedCommandLine& result) {
  bool negative = false;
  absl::CommandLineFlag* flag = FindFlag(arg.name, &negative);
  if (flag == nullptr || flag->IsRetired()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown flag --", arg.name, "; see --help"));
  }
  const std::string canonical(flag->Name());
  result.flags_given.insert(canonical);
  result.args.push_back(cursor.argv[cursor.i]);
  if (IsParsingFlag(canonical)) {
    if (!arg.has_value && cursor.HasNext()) {
      result.args.push_back(cursor.TakeNext());
    }
    return absl::OkStatus();
  }
  SB_ASSIGN_OR_RETURN(std::string text, TakeValue(*flag, canonical, arg,
                                                  negative, cursor, result));
  result.values[canonical].push_back(text);
  std::string error;
  if (!flag->ParseFrom(text, &error)) {
    // absl's errors name the flag and the value.
    return absl::InvalidArgumentError(
        error.empty()
            ? absl::StrCat("invalid value '", text, "' for --", canonical)
            : error);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PreParsedCommandLine> PreParseCommandLine(
    const std::vector<std::string>& argv,
    const std::set<std::string>& switch_like) {
  PreParsedCommandLine result;
  if (argv.empty()) return result;
  result.args.push_back(argv[0]);
  bool flags_ended = false;
  for (ArgvCursor cursor{argv, 1}; cursor.i < argv.size(); ++cursor.i) {
    const std::string& arg = argv[cursor.i];
    if (flags_ended || arg.size() < 2 || arg[0] != '-') {
      result.args.push_back(arg);
      result.positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_ended = true;
      result.args.push_back(arg);
      continue;
    }
    const FlagArg flag = SplitFlagArg(arg);
    if (IsUsageFlag(flag.name)) {
      result.usage_requested = true;
      result.args.push_back(arg);
      continue;
    }
    if (TakeSwitch(flag, cursor, switch_like, result)) continue;
    SB_RETURN_IF_ERROR(TakeRegisteredFlag(flag, cursor, result));
  }
  return result;
}

absl::Status CheckFlagsApply(absl::string_view subcommand,
                             const std::set<std::string>& given,
                             const std::set<std::string>& own,
                             const std::set<std::string>& allowed) {
  for (const std::string& name : given) {
    if (own.count(name) > 0 && allowed.count(name) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, " does not apply to '", subcommand, "'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace switchboard::ctl
