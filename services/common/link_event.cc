#include "services/common/link_event.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/common/queue_name.h"

namespace switchboard {
namespace {

using switchboard::v1::Event;
using switchboard::v1::LinkStatus;

}  // namespace

std::optional<LinkReport> ReadLinkReport(const Event& event) {
  auto id = event.attributes().find(std::string(kLinkIdAttribute));
  auto state = event.attributes().find(std::string(kLinkStateAttribute));
  if (id != event.attributes().end() && state != event.attributes().end()) {
    LinkStatus::State parsed;
    if (id->second.empty() ||
        !LinkStatus::State_Parse(state->second, &parsed) ||
        parsed == LinkStatus::STATE_UNSPECIFIED) {
      return std::nullopt;
    }
    return LinkReport{id->second, parsed};
  }
  if (event.has_link_status() && !event.link_status().link_id().empty() &&
      event.link_status().state() != LinkStatus::STATE_UNSPECIFIED) {
    return LinkReport{event.link_status().link_id(),
                      event.link_status().state()};
  }
  return std::nullopt;
}

void StampLinkReport(const LinkReport& report, Event* event) {
  auto& attributes = *event->mutable_attributes();
  attributes[std::string(kLinkIdAttribute)] = report.link_id;
  attributes[std::string(kLinkStateAttribute)] =
      LinkStatus::State_Name(report.state);
}

std::string LinkQueueName(absl::string_view prefix, absl::string_view link_id) {
  return QueueNameFor(prefix, link_id);
}

bool IsNewerLinkEvent(const Event& a, const Event& b) {
  const auto ta = std::make_pair(a.time().seconds(), a.time().nanos());
  const auto tb = std::make_pair(b.time().seconds(), b.time().nanos());
  if (ta != tb) return ta > tb;
  return a.sequence() > b.sequence();
}

}  // namespace switchboard
