#ifndef SWITCHBOARD_SERVICES_BROADCASTER_ROUTING_EXTRA_QUEUES_RULE_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_ROUTING_EXTRA_QUEUES_RULE_H_

#include <string>
#include <utility>
#include <vector>

#include "services/broadcaster/pattern_filter.h"
#include "services/broadcaster/routing/routing_rule.h"

namespace switchboard::broadcaster::routing {

// The extra queues (`routing.queues`), each getting the event types its
// filter passes, in configuration order. Static queues.
class ExtraQueuesRule : public RoutingRule {
 public:
  using Queues = std::vector<std::pair<std::string, PatternFilter>>;

  explicit ExtraQueuesRule(Queues queues);

  absl::Status Route(switchboard::v1::Event* event,
                     Candidates* out) const override;
  void AppendStaticQueues(std::vector<std::string>* queues) const override;

 private:
  const Queues queues_;
};

}  // namespace switchboard::broadcaster::routing

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_ROUTING_EXTRA_QUEUES_RULE_H_
