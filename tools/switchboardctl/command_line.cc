#include "tools/switchboardctl/command_line.h"

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

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

}  // namespace

absl::StatusOr<PreParsedCommandLine> PreParseCommandLine(
    const std::vector<std::string>& argv,
    const std::set<std::string>& switch_like) {
  PreParsedCommandLine result;
  if (argv.empty()) return result;
  result.args.push_back(argv[0]);
  bool flags_ended = false;
  for (size_t i = 1; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
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
    absl::string_view body = arg;
    absl::ConsumePrefix(&body, "-");
    absl::ConsumePrefix(&body, "-");
    const size_t eq = body.find('=');
    const bool has_value = eq != absl::string_view::npos;
    absl::string_view name = body.substr(0, eq);
    absl::string_view value = has_value ? body.substr(eq + 1) : "";

    if (IsUsageFlag(name)) {
      result.usage_requested = true;
      result.args.push_back(arg);
      continue;
    }

    // Switch-like string flags given bare.
    absl::string_view positive = name;
    const bool negated = absl::ConsumePrefix(&positive, "no");
    if (!has_value && switch_like.count(std::string(name)) > 0) {
      const bool value_follows =
          i + 1 < argv.size() &&
          absl::StartsWith(absl::StripLeadingAsciiWhitespace(argv[i + 1]), "{");
      if (!value_follows) {
        result.args.push_back(absl::StrCat("--", name, "=true"));
        result.flags_given.insert(std::string(name));
        result.values[std::string(name)].push_back("true");
        absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
        std::string error;
        if (flag != nullptr) flag->ParseFrom("true", &error);
        continue;
      }
    } else if (!has_value && negated &&
               switch_like.count(std::string(positive)) > 0 &&
               absl::FindCommandLineFlag(name) == nullptr) {
      result.args.push_back(absl::StrCat("--", positive, "=false"));
      result.flags_given.insert(std::string(positive));
      result.values[std::string(positive)].push_back("false");
      absl::CommandLineFlag* flag = absl::FindCommandLineFlag(positive);
      std::string error;
      if (flag != nullptr) flag->ParseFrom("false", &error);
      continue;
    }

    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    bool negative = false;
    if (flag == nullptr && negated) {
      flag = absl::FindCommandLineFlag(positive);
      if (flag != nullptr && !flag->IsOfType<bool>()) flag = nullptr;
      negative = flag != nullptr;
    }
    if (flag == nullptr || flag->IsRetired()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", name, "; see --help"));
    }
    const std::string canonical(flag->Name());
    result.flags_given.insert(canonical);
    result.args.push_back(arg);
    if (IsParsingFlag(canonical)) {
      if (!has_value && i + 1 < argv.size()) result.args.push_back(argv[++i]);
      continue;
    }

    std::string text;
    if (flag->IsOfType<bool>()) {
      if (negative) {
        if (has_value) {
          return absl::InvalidArgumentError(absl::StrCat(
              "--", name, " takes no value; use --", canonical, "=false"));
        }
        text = "false";
      } else {
        text = has_value ? std::string(value) : "true";
      }
    } else if (has_value) {
      text = std::string(value);
    } else {
      if (i + 1 >= argv.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", canonical, " is missing its value"));
      }
      text = argv[++i];
      result.args.push_back(text);
    }
    result.values[canonical].push_back(text);
    std::string error;
    if (!flag->ParseFrom(text, &error)) {
      // absl's errors name the flag and the value.
      return absl::InvalidArgumentError(
          error.empty()
              ? absl::StrCat("invalid value '", text, "' for --", canonical)
              : error);
    }
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
