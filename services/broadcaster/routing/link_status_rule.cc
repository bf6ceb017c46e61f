#include "services/broadcaster/routing/link_status_rule.h"

#include <optional>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/common/link_event.h"
#include "services/common/status_macros.h"

namespace switchboard::broadcaster::routing {
namespace {

using switchboard::v1::Event;

// The string at a dotted path of a Struct, e.g. "link.id".
std::optional<std::string> StringAt(const google::protobuf::Struct& data,
                                    absl::string_view path) {
  const google::protobuf::Struct* node = &data;
  std::vector<absl::string_view> parts = absl::StrSplit(path, '.');
  for (size_t i = 0; i < parts.size(); ++i) {
    auto it = node->fields().find(std::string(parts[i]));
    if (it == node->fields().end()) return std::nullopt;
    const google::protobuf::Value& value = it->second;
    if (i + 1 == parts.size()) {
      if (value.kind_case() != google::protobuf::Value::kStringValue ||
          value.string_value().empty()) {
        return std::nullopt;
      }
      return value.string_value();
    }
    if (value.kind_case() != google::protobuf::Value::kStructValue) {
      return std::nullopt;
    }
    node = &value.struct_value();
  }
  return std::nullopt;
}

void EraseLinkAttributes(Event* event) {
  if (event->attributes().empty()) return;
  event->mutable_attributes()->erase(std::string(kLinkIdAttribute));
  event->mutable_attributes()->erase(std::string(kLinkStateAttribute));
}

// The link a configured link event type reports; InvalidArgument when the
// event lacks its id.
absl::StatusOr<LinkReport> ConfiguredReport(const Event& event,
                                            const LinkEventType& type) {
  std::optional<std::string> id;
  if (type.link_id_field.empty()) {
    if (!event.subject().empty()) id = event.subject();
  } else if (event.has_json_data()) {
    id = StringAt(event.json_data(), type.link_id_field);
  }
  if (!id.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "type '", event.type(),
        "' reports a link status (links.event_types), but the event has no "
        "link id at ",
        type.link_id_field.empty()
            ? std::string("subject")
            : absl::StrCat("json_data.", type.link_id_field)));
  }
  return LinkReport{*std::move(id), type.state};
}

}  // namespace

LinkStatusRule::LinkStatusRule(std::string prefix, EventTypes event_types)
    : prefix_(std::move(prefix)), event_types_(std::move(event_types)) {}

absl::Status LinkStatusRule::Route(Event* event, Candidates* out) const {
  EraseLinkAttributes(event);
  if (prefix_.empty()) return absl::OkStatus();
  std::optional<LinkReport> report;
  auto configured = event_types_.find(event->type());
  if (configured != event_types_.end()) {
    SB_ASSIGN_OR_RETURN(report, ConfiguredReport(*event, configured->second));
  } else if (event->has_link_status()) {
    report = LinkReport{event->link_status().link_id(),
                        event->link_status().state()};
  }
  if (!report.has_value()) return absl::OkStatus();
  StampLinkReport(*report, event);
  if (out->open()) out->Add(LinkQueueName(prefix_, report->link_id));
  return absl::OkStatus();
}

void LinkStatusRule::AppendFamilies(std::vector<QueueFamily>* families) const {
  if (prefix_.empty()) return;
  families->push_back(QueueFamily{prefix_, /*dynamic=*/true,
                                  /*last_value=*/true});
}

}  // namespace switchboard::broadcaster::routing
