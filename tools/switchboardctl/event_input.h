#ifndef SWITCHBOARD_TOOLS_SWITCHBOARDCTL_EVENT_INPUT_H_
#define SWITCHBOARD_TOOLS_SWITCHBOARDCTL_EVENT_INPUT_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "switchboard/v1/event.pb.h"

namespace switchboard::ctl {

// The event-building flags of `switchboardctl publish`, as given.
struct EventFlags {
  std::string type;
  std::string source;
  std::string subject;
  // "k=v,k2=v2".
  std::string attr;
  // A JSON object for `json_data`.
  std::string json;
  // A link id for a `link_status` payload; needs `link_state`.
  std::string link;
  // "up" or "down" (any case).
  std::string link_state;
};

// Parses "k=v,k2=v2" into a map. Each item needs a '=' and a non-empty key;
// the value is everything after the first '=' (so it may hold '=' but not
// ','). An empty text is no attributes. Keys must be unique.
absl::StatusOr<std::map<std::string, std::string>> ParseAttributes(
    absl::string_view text);

// "up" / "down" (case-insensitive) to the LinkStatus state.
absl::StatusOr<v1::LinkStatus::State> ParseLinkState(absl::string_view text);

// Builds the event `publish` sends from its flags. Only the flags' own
// consistency is checked (one payload, --link_state with --link, valid JSON);
// whether the event is acceptable (e.g. has a source and a type) is the
// broadcaster's call. With --link and no --subject, the subject is the link
// id. Errors name the flag.
absl::StatusOr<v1::Event> BuildEvent(const EventFlags& flags);

// True for lines with nothing but whitespace: `publish --stdin` skips them.
bool IsBlankLine(absl::string_view line);

// Parses one line of `publish --stdin` input: an Event in the proto3 JSON
// mapping, e.g.
//   {"source":"kytos/topology","type":"kytos/topology.link_down",
//    "subject":"s1:1-s2:1","jsonData":{"a":1}}
// Unknown fields are errors. Errors start with "line <line_number>: ".
absl::StatusOr<v1::Event> ParseEventJsonLine(absl::string_view line,
                                             int64_t line_number);

}  // namespace switchboard::ctl

#endif  // SWITCHBOARD_TOOLS_SWITCHBOARDCTL_EVENT_INPUT_H_
