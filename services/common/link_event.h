#ifndef SWITCHBOARD_SERVICES_COMMON_LINK_EVENT_H_
#define SWITCHBOARD_SERVICES_COMMON_LINK_EVENT_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "switchboard/v1/event.pb.h"

namespace switchboard {

// How the broadcaster and the consumer agree on link statuses.
//
// The broadcaster recognises a link status either by its typed payload
// (Event.link_status) or by a configured event type (e.g.
// "kytos/topology.link_down" with the link id at a JSON path). Either way it
// stamps the event with these two attributes before routing it, so every
// reader of a `link.<id>` queue (the consumer's link view, or an external
// AMQP client) interprets it the same way without knowing the broadcaster's
// settings.
inline constexpr absl::string_view kLinkIdAttribute = "switchboard.link_id";
// "UP" or "DOWN" (LinkStatus.State names).
inline constexpr absl::string_view kLinkStateAttribute =
    "switchboard.link_state";

struct LinkReport {
  std::string link_id;
  switchboard::v1::LinkStatus::State state =
      switchboard::v1::LinkStatus::STATE_UNSPECIFIED;
};

// The link status an event reports: from the attributes above when present,
// else from a typed LinkStatus payload with a link id and a state. nullopt
// for any other event.
std::optional<LinkReport> ReadLinkReport(const switchboard::v1::Event& event);

// Stamps `report` on `event` as the two attributes.
void StampLinkReport(const LinkReport& report, switchboard::v1::Event* event);

// The queue name of a link: QueueNameFor(prefix, link_id), one-to-one, so
// two ids that differ only in unsafe characters never share a queue.
std::string LinkQueueName(absl::string_view prefix, absl::string_view link_id);

// Whether `a` supersedes `b` as the status of one link: the later event
// time, then (events of one batch share the broadcaster's clock reading)
// the higher sequence. Time comes first because sequences restart with the
// broadcaster.
bool IsNewerLinkEvent(const switchboard::v1::Event& a,
                      const switchboard::v1::Event& b);

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_COMMON_LINK_EVENT_H_
