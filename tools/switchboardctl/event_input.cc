#include "tools/switchboardctl/event_input.h"

#include <google/protobuf/util/json_util.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace switchboard::ctl {
namespace {

// protobuf's JSON errors quote the input on further lines, under a caret;
// keep the first line, so every error reads "switchboardctl: <message>".
std::string JsonErrorText(const google::protobuf::util::Status& status) {
  const auto message = status.message();
  absl::string_view text(message.data(), message.size());
  text = text.substr(0, text.find_first_of("\r\n"));
  absl::ConsumePrefix(&text, ": ");
  return std::string(absl::StripAsciiWhitespace(text));
}

}  // namespace

absl::StatusOr<std::map<std::string, std::string>> ParseAttributes(
    absl::string_view text) {
  std::map<std::string, std::string> attributes;
  if (text.empty()) return attributes;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    const size_t eq = item.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "attribute '", item, "' has no '='; expected k=v,k2=v2"));
    }
    absl::string_view key = item.substr(0, eq);
    if (key.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("attribute '", item, "' has an empty key"));
    }
    if (!attributes.emplace(std::string(key), std::string(item.substr(eq + 1)))
             .second) {
      return absl::InvalidArgumentError(
          absl::StrCat("attribute '", key, "' is given twice"));
    }
  }
  return attributes;
}

absl::StatusOr<v1::LinkStatus::State> ParseLinkState(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "up") return v1::LinkStatus::UP;
  if (lower == "down") return v1::LinkStatus::DOWN;
  return absl::InvalidArgumentError(
      absl::StrCat("'", text, "' is not a link state; expected up or down"));
}

absl::StatusOr<v1::Event> BuildEvent(const EventFlags& flags) {
  v1::Event event;
  event.set_type(flags.type);
  event.set_source(flags.source);
  event.set_subject(flags.subject);

  auto attributes = ParseAttributes(flags.attr);
  if (!attributes.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--attr: ", attributes.status().message()));
  }
  for (auto& [key, value] : *attributes) {
    (*event.mutable_attributes())[key] = std::move(value);
  }

  if (!flags.json.empty() && !flags.link.empty()) {
    return absl::InvalidArgumentError(
        "--json and --link both set the event's payload; give one of them");
  }
  if (!flags.link_state.empty() && flags.link.empty()) {
    return absl::InvalidArgumentError("--link_state needs --link=ID");
  }

  if (!flags.json.empty()) {
    google::protobuf::util::Status parsed =
        google::protobuf::util::JsonStringToMessage(
            flags.json, event.mutable_json_data(),
            google::protobuf::util::JsonParseOptions());
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--json: expected a JSON object: ", JsonErrorText(parsed)));
    }
  }

  if (!flags.link.empty()) {
    if (flags.link_state.empty()) {
      return absl::InvalidArgumentError("--link needs --link_state=up|down");
    }
    auto state = ParseLinkState(flags.link_state);
    if (!state.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--link_state: ", state.status().message()));
    }
    v1::LinkStatus* link = event.mutable_link_status();
    link->set_link_id(flags.link);
    link->set_state(*state);
    if (event.subject().empty()) event.set_subject(flags.link);
  }
  return event;
}

bool IsBlankLine(absl::string_view line) {
  return absl::StripAsciiWhitespace(line).empty();
}

absl::StatusOr<v1::Event> ParseEventJsonLine(absl::string_view line,
                                             int64_t line_number) {
  v1::Event event;
  google::protobuf::util::Status parsed =
      google::protobuf::util::JsonStringToMessage(
          google::protobuf::StringPiece(line.data(), line.size()), &event,
          google::protobuf::util::JsonParseOptions());
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "line ", line_number, ": not an event: ", JsonErrorText(parsed)));
  }
  return event;
}

}  // namespace switchboard::ctl
