#include "services/broadcaster/routing/extra_queues_rule.h"

namespace switchboard::broadcaster::routing {

ExtraQueuesRule::ExtraQueuesRule(Queues queues) : queues_(std::move(queues)) {}

absl::Status ExtraQueuesRule::Route(switchboard::v1::Event* event,
                                    Candidates* out) const {
  const std::string& type = event->type();
  for (const auto& [name, filter] : queues_) {
    if (filter.Passes(type)) out->Add(name);
  }
  return absl::OkStatus();
}

void ExtraQueuesRule::AppendStaticQueues(
    std::vector<std::string>* queues) const {
  for (const auto& [name, filter] : queues_) queues->push_back(name);
}

}  // namespace switchboard::broadcaster::routing
