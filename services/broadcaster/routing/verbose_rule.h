#ifndef SWITCHBOARD_SERVICES_BROADCASTER_ROUTING_VERBOSE_RULE_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_ROUTING_VERBOSE_RULE_H_

#include <string>
#include <vector>

#include "services/broadcaster/routing/routing_rule.h"

namespace switchboard::broadcaster::routing {

// The verbose queue, which gets every event (that the filters let through);
// an empty name turns it off. A static queue.
class VerboseRule : public RoutingRule {
 public:
  explicit VerboseRule(std::string queue);

  absl::Status Route(switchboard::v1::Event* event,
                     Candidates* out) const override;
  void AppendStaticQueues(std::vector<std::string>* queues) const override;

 private:
  const std::string queue_;
};

}  // namespace switchboard::broadcaster::routing

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_ROUTING_VERBOSE_RULE_H_
