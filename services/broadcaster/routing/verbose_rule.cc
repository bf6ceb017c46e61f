#include "services/broadcaster/routing/verbose_rule.h"

#include <utility>

namespace switchboard::broadcaster::routing {

VerboseRule::VerboseRule(std::string queue) : queue_(std::move(queue)) {}

absl::Status VerboseRule::Route(switchboard::v1::Event* /*event*/,
                                Candidates* out) const {
  if (!queue_.empty()) out->Add(queue_);
  return absl::OkStatus();
}

void VerboseRule::AppendStaticQueues(std::vector<std::string>* queues) const {
  if (!queue_.empty()) queues->push_back(queue_);
}

}  // namespace switchboard::broadcaster::routing
