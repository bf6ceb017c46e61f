#ifndef SWITCHBOARD_SERVICES_BROADCASTER_ROUTING_LINK_STATUS_RULE_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_ROUTING_LINK_STATUS_RULE_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "services/broadcaster/routing/routing_rule.h"
#include "switchboard/v1/event.pb.h"

namespace switchboard::broadcaster::routing {

// An event type that reports a link status (besides the typed LinkStatus
// payload), e.g. "kytos/topology.link_down" (`links.event_types`).
struct LinkEventType {
  switchboard::v1::LinkStatus::State state;
  // Dotted path to the link id in the event's json_data, e.g. "link.id";
  // empty means the event's `subject`.
  std::string link_id_field;
};

// Link statuses go to the last-value queue of their link,
// LinkQueueName(prefix, link id) ("link.<id>"), with the attributes of
// link_event.h stamped on the event. A link status is an event with a
// typed LinkStatus payload or of a configured link event type (which wins).
// Every other event has those attributes removed: the broadcaster owns that
// namespace. An empty prefix turns link queues off (the attributes are
// still removed).
//
// Sees the events the global filter stops: they are still stamped, and a
// configured link event type without its link id is refused whatever the
// filters say.
class LinkStatusRule : public RoutingRule {
 public:
  using EventTypes = absl::flat_hash_map<std::string, LinkEventType>;

  LinkStatusRule(std::string prefix, EventTypes event_types);

  // InvalidArgument naming the place when a configured link event type
  // lacks its link id.
  absl::Status Route(switchboard::v1::Event* event,
                     Candidates* out) const override;
  bool sees_filtered_events() const override { return true; }
  void AppendFamilies(std::vector<QueueFamily>* families) const override;

 private:
  const std::string prefix_;
  const EventTypes event_types_;
};

}  // namespace switchboard::broadcaster::routing

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_ROUTING_LINK_STATUS_RULE_H_
