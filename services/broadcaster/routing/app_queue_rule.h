#ifndef SWITCHBOARD_SERVICES_BROADCASTER_ROUTING_APP_QUEUE_RULE_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_ROUTING_APP_QUEUE_RULE_H_

#include <string>
#include <vector>

#include "services/broadcaster/pattern_filter.h"
#include "services/broadcaster/routing/routing_rule.h"

namespace switchboard::broadcaster::routing {

// The queue of the source app: QueueNameFor(prefix, source), so
// "kytos/topology" routes to "app.kytos.topology" and no two sources share
// a queue; only for the sources `app_sources` lets through. App queues are
// dynamic: each new source makes one.
class AppQueueRule : public RoutingRule {
 public:
  AppQueueRule(std::string prefix, PatternFilter sources);

  // The queue of `source`, whether or not `sources` lets it through.
  std::string QueueOf(const std::string& source) const;

  absl::Status Route(switchboard::v1::Event* event,
                     Candidates* out) const override;
  void AppendFamilies(std::vector<QueueFamily>* families) const override;

 private:
  const std::string prefix_;
  const PatternFilter sources_;
};

}  // namespace switchboard::broadcaster::routing

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_ROUTING_APP_QUEUE_RULE_H_
