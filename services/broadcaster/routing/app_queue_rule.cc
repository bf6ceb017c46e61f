#include "services/broadcaster/routing/app_queue_rule.h"

#include <utility>

#include "services/common/queue_name.h"

namespace switchboard::broadcaster::routing {

AppQueueRule::AppQueueRule(std::string prefix, PatternFilter sources)
    : prefix_(std::move(prefix)), sources_(std::move(sources)) {}

std::string AppQueueRule::QueueOf(const std::string& source) const {
  return QueueNameFor(prefix_, source);
}

absl::Status AppQueueRule::Route(switchboard::v1::Event* event,
                                 Candidates* out) const {
  if (sources_.Passes(event->source())) out->Add(QueueOf(event->source()));
  return absl::OkStatus();
}

void AppQueueRule::AppendFamilies(std::vector<QueueFamily>* families) const {
  families->push_back(QueueFamily{prefix_, /*dynamic=*/true,
                                  /*last_value=*/false});
}

}  // namespace switchboard::broadcaster::routing
