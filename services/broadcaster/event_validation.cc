#include "services/broadcaster/event_validation.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "services/common/status_macros.h"

namespace switchboard::broadcaster {
namespace {

using switchboard::v1::Event;

absl::Status Invalid(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, " ", problem));
}

// Checks a token field (see IsToken); `required` makes empty an error.
absl::Status CheckToken(absl::string_view field, absl::string_view value,
                        size_t max, bool required) {
  if (value.empty()) {
    return required ? Invalid(field, "is empty") : absl::OkStatus();
  }
  if (value.size() > max) {
    return Invalid(field, absl::StrCat("is ", value.size(),
                                       " characters; the limit is ", max));
  }
  if (!IsToken(value, max)) {
    return Invalid(field,
                   "has a character outside printable ASCII (space, "
                   "control characters and non-ASCII bytes are refused)");
  }
  return absl::OkStatus();
}

// Free text: bounded, no control characters (UTF-8 allowed).
absl::Status CheckText(absl::string_view field, absl::string_view value,
                       size_t max) {
  if (value.size() > max) {
    return Invalid(
        field, absl::StrCat("is ", value.size(), " bytes; the limit is ", max));
  }
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7F) {
      return Invalid(field, "has a control character");
    }
  }
  return absl::OkStatus();
}

// Region names become queue names (region.<name>): a strict set, no '.'.
absl::Status CheckRegion(absl::string_view field, absl::string_view value) {
  if (value.empty()) return absl::OkStatus();
  if (value.size() > kMaxRegionLength) {
    return Invalid(
        field, absl::StrCat("is ", value.size(), " characters; the limit is ",
                            kMaxRegionLength));
  }
  for (char c : value) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
          c == '-')) {
      return Invalid(field, absl::StrCat("'", value,
                                         "' has a character outside "
                                         "[A-Za-z0-9_-]"));
    }
  }
  return absl::OkStatus();
}

int StructDepth(const google::protobuf::Struct& s, int depth);

int ValueDepth(const google::protobuf::Value& v, int depth) {
  if (depth > kMaxStructDepth) return depth;
  switch (v.kind_case()) {
    case google::protobuf::Value::kStructValue:
      return StructDepth(v.struct_value(), depth + 1);
    case google::protobuf::Value::kListValue: {
      int deepest = depth + 1;
      for (const auto& item : v.list_value().values()) {
        deepest = std::max(deepest, ValueDepth(item, depth + 1));
        if (deepest > kMaxStructDepth) break;
      }
      return deepest;
    }
    default:
      return depth;
  }
}

// The nesting depth of `s` (1 for a flat object), stopping early once past
// the limit.
int StructDepth(const google::protobuf::Struct& s, int depth) {
  int deepest = depth;
  for (const auto& [key, value] : s.fields()) {
    deepest = std::max(deepest, ValueDepth(value, depth));
    if (deepest > kMaxStructDepth) break;
  }
  return deepest;
}

absl::Status CheckTime(const Event& event, const TimeBounds& bounds,
                       absl::Time now) {
  if (!event.has_time()) return absl::OkStatus();
  const auto& t = event.time();
  if (t.nanos() < 0 || t.nanos() > 999'999'999) {
    return Invalid("time.nanos", absl::StrCat("is ", t.nanos(),
                                              "; it must be 0 to 999999999"));
  }
  const absl::Time time =
      absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
  if (time > now + bounds.max_ahead) {
    return Invalid("time", absl::StrCat("is ", absl::FormatTime(time),
                                        ", more than max_time_ahead (",
                                        absl::FormatDuration(bounds.max_ahead),
                                        ") after the broadcaster's clock (",
                                        absl::FormatTime(now), ")"));
  }
  if (time < now - bounds.max_behind) {
    return Invalid("time", absl::StrCat("is ", absl::FormatTime(time),
                                        ", more than max_time_behind (",
                                        absl::FormatDuration(bounds.max_behind),
                                        ") before the broadcaster's clock (",
                                        absl::FormatTime(now), ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckAttributes(const Event& event) {
  if (event.attributes_size() > static_cast<int>(kMaxAttributes)) {
    return Invalid("attributes",
                   absl::StrCat("has ", event.attributes_size(),
                                " entries; the limit is ", kMaxAttributes));
  }
  for (const auto& [key, value] : event.attributes()) {
    if (absl::Status s =
            CheckToken(absl::StrCat("attributes key '", key.substr(0, 40), "'"),
                       key, kMaxAttributeKeyLength, true);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = CheckText(absl::StrCat("attributes['", key, "']"),
                                   value, kMaxAttributeValueLength);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status CheckSwitchId(absl::string_view field, absl::string_view value) {
  return CheckToken(field, value, kMaxSwitchIdLength, /*required=*/false);
}

absl::Status CheckLinkStatus(const switchboard::v1::LinkStatus& l) {
  if (l.link_id().empty()) return Invalid("link_status.link_id", "is empty");
  SB_RETURN_IF_ERROR(
      CheckToken("link_status.link_id", l.link_id(), kMaxLinkIdLength, true));
  if (l.state() == switchboard::v1::LinkStatus::STATE_UNSPECIFIED) {
    return Invalid("link_status.state", "is unset: UP or DOWN");
  }
  SB_RETURN_IF_ERROR(CheckText("link_status.reason", l.reason(), 1024));
  SB_RETURN_IF_ERROR(CheckSwitchId("link_status.endpoint_a.switch_id",
                                   l.endpoint_a().switch_id()));
  return CheckSwitchId("link_status.endpoint_b.switch_id",
                       l.endpoint_b().switch_id());
}

absl::Status CheckSwitchStatus(const switchboard::v1::SwitchStatus& s) {
  SB_RETURN_IF_ERROR(CheckSwitchId("switch_status.switch_id", s.switch_id()));
  SB_RETURN_IF_ERROR(CheckRegion("switch_status.region", s.region()));
  SB_RETURN_IF_ERROR(
      CheckToken("switch_status.ip", s.ip(), kMaxIpLength, false));
  if (s.connections_size() > 0) {
    return Invalid("switch_status.connections",
                   "is the broadcaster's own; producers leave it empty");
  }
  return absl::OkStatus();
}

absl::Status CheckCommand(const switchboard::v1::Command& c) {
  SB_RETURN_IF_ERROR(
      CheckToken("command.name", c.name(), kMaxCommandNameLength, false));
  if (c.target_switches_size() > kMaxTargetSwitches) {
    return Invalid("command.target_switches",
                   absl::StrCat("has ", c.target_switches_size(),
                                " entries; the limit is ", kMaxTargetSwitches));
  }
  for (int i = 0; i < c.target_switches_size(); ++i) {
    SB_RETURN_IF_ERROR(
        CheckSwitchId(absl::StrCat("command.target_switches[", i, "]"),
                      c.target_switches(i)));
  }
  return absl::OkStatus();
}

absl::Status CheckPayload(const Event& event) {
  switch (event.data_case()) {
    case Event::kLinkStatus:
      return CheckLinkStatus(event.link_status());
    case Event::kSwitchStatus:
      return CheckSwitchStatus(event.switch_status());
    case Event::kPortStatus:
      SB_RETURN_IF_ERROR(CheckSwitchId("port_status.switch_id",
                                       event.port_status().switch_id()));
      return CheckRegion("port_status.region", event.port_status().region());
    case Event::kHeartbeat:
      return CheckRegion("heartbeat.region", event.heartbeat().region());
    case Event::kCommand:
      return CheckCommand(event.command());
    case Event::kJsonData:
      if (StructDepth(event.json_data(), 1) > kMaxStructDepth) {
        return Invalid("json_data", absl::StrCat("nests deeper than ",
                                                 kMaxStructDepth, " levels"));
      }
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

}  // namespace

bool IsToken(absl::string_view text, size_t max) {
  if (text.empty() || text.size() > max) return false;
  for (unsigned char c : text) {
    if (c < 0x21 || c > 0x7E) return false;
  }
  return true;
}

absl::Status ValidateEvent(const Event& event, const TimeBounds& time_bounds,
                           absl::Time now) {
  if (event.source().empty()) {
    return Invalid("source",
                   "is empty: name the producing app, e.g. 'kytos/topology'");
  }
  if (absl::Status s =
          CheckToken("source", event.source(), kMaxSourceLength, true);
      !s.ok()) {
    return s;
  }
  for (absl::string_view segment : absl::StrSplit(event.source(), '/')) {
    if (segment.empty() || segment == "." || segment == "..") {
      return Invalid("source", absl::StrCat("'", event.source(),
                                            "' has an empty, '.' or '..' "
                                            "segment between '/'"));
    }
  }
  if (event.type().empty()) {
    return Invalid("type",
                   "is empty: name the event, e.g. 'kytos/topology.link_down'");
  }
  if (absl::Status s = CheckToken("type", event.type(), kMaxTypeLength, true);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckToken("id", event.id(), kMaxIdLength, false);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          CheckToken("subject", event.subject(), kMaxSubjectLength, false);
      !s.ok()) {
    return s;
  }
  if (event.sequence() > kMaxSequence) {
    return Invalid("sequence",
                   absl::StrCat("is ", event.sequence(),
                                "; the limit is 2^53 (", kMaxSequence, ")"));
  }
  if (absl::Status s = CheckTime(event, time_bounds, now); !s.ok()) return s;
  if (absl::Status s = CheckAttributes(event); !s.ok()) return s;
  return CheckPayload(event);
}

}  // namespace switchboard::broadcaster
