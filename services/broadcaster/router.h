#ifndef SWITCHBOARD_SERVICES_BROADCASTER_ROUTER_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_ROUTER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/common/config.h"
#include "switchboard/v1/event.pb.h"

namespace switchboard::broadcaster {

// The routing table: which queues an accepted event goes to. Every event
// goes to the queue of its source app and to the verbose queue.
// Immutable once built, so it is shared by all publishing threads without
// locks.
class Router {
 public:
  struct Settings {
    // Queue of each source app: prefix + the source with characters outside
    // [A-Za-z0-9_:-] turned into '.', so "kytos/topology" routes to
    // "app.kytos.topology".
    std::string app_queue_prefix = "app.";
    // The queue that gets every event; empty turns it off.
    std::string verbose_queue = "verbose";
  };

  // Reads the `routing` section.
  static absl::StatusOr<Settings> ParseSettings(const ConfigNode& routing);

  explicit Router(Settings settings);

  // Queues for `event`, without duplicates. `event.source()` must be set.
  std::vector<std::string> Route(const switchboard::v1::Event& event) const;

  // The queue of a source app.
  std::string AppQueue(const std::string& source) const;

  // Queues every running broadcaster has, declared at start so that
  // subscribers can attach before the first event.
  std::vector<std::string> StaticQueues() const;

  const Settings& settings() const { return settings_; }

 private:
  const Settings settings_;
};

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_ROUTER_H_
