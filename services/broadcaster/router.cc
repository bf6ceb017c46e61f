#include "services/broadcaster/router.h"

#include "absl/strings/str_cat.h"
#include "services/common/queue_name.h"
#include "services/common/status.h"

namespace switchboard::broadcaster {

absl::StatusOr<Router::Settings> Router::ParseSettings(
    const ConfigNode& routing) {
  Settings settings;
  SB_RETURN_IF_ERROR(
      routing.Get("app_queue_prefix", &settings.app_queue_prefix));
  SB_RETURN_IF_ERROR(routing.Get("verbose_queue", &settings.verbose_queue));
  SB_RETURN_IF_ERROR(routing.CheckAllKeysKnown());
  // The prefix must itself be a valid start of a queue name.
  if (absl::Status s =
          ValidateQueueName(absl::StrCat(settings.app_queue_prefix, "x"));
      !s.ok()) {
    return routing.Error("app_queue_prefix", s.message());
  }
  if (!settings.verbose_queue.empty()) {
    if (absl::Status s = ValidateQueueName(settings.verbose_queue); !s.ok()) {
      return routing.Error("verbose_queue", s.message());
    }
  }
  return settings;
}

Router::Router(Settings settings) : settings_(std::move(settings)) {}

std::string Router::AppQueue(const std::string& source) const {
  return absl::StrCat(settings_.app_queue_prefix,
                      SanitizeQueueNamePart(source));
}

std::vector<std::string> Router::Route(
    const switchboard::v1::Event& event) const {
  std::vector<std::string> queues;
  queues.push_back(AppQueue(event.source()));
  if (!settings_.verbose_queue.empty() &&
      settings_.verbose_queue != queues.front()) {
    queues.push_back(settings_.verbose_queue);
  }
  return queues;
}

std::vector<std::string> Router::StaticQueues() const {
  if (settings_.verbose_queue.empty()) return {};
  return {settings_.verbose_queue};
}

}  // namespace switchboard::broadcaster
