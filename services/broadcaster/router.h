#ifndef SWITCHBOARD_SERVICES_BROADCASTER_ROUTER_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_ROUTER_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "services/broadcaster/pattern_filter.h"
#include "services/broadcaster/queue_budget.h"
#include "services/broadcaster/queue_limits.h"
#include "services/common/config.h"
#include "switchboard/v1/bridge.pb.h"
#include "switchboard/v1/event.pb.h"

namespace switchboard::broadcaster {

// The routing table: which queues an accepted event goes to.
//
//  1. The global filter (`filters`) on the event type: an event it stops is
//     accepted but goes nowhere (counted as filtered).
//  2. Candidate queues: the queue of the source app (for sources that
//     `routing.app_sources` lets through), the verbose queue, every extra
//     queue (`routing.queues`) whose type filter passes, and `link.<id>`
//     for a link status.
//  3. Each candidate's own filter (`filters.queues.<name>`) on the type.
//
// Immutable once built, so it is shared by all publishing threads without
// locks; a reload builds a new one.
class Router {
 public:
  // An event type that reports a link status (besides the typed
  // LinkStatus payload), e.g. "kytos/topology.link_down".
  struct LinkEventType {
    switchboard::v1::LinkStatus::State state;
    // Dotted path to the link id in the event's json_data, e.g. "link.id";
    // empty means the event's `subject`.
    std::string link_id_field;
  };

  struct Settings {
    // Queue of each source app: QueueNameFor(prefix, source), so
    // "kytos/topology" routes to "app.kytos.topology", and no two sources
    // share a queue.
    std::string app_queue_prefix = "app.";
    // Which sources get an app queue (patterns on the source).
    PatternFilter app_sources;
    // The queue that gets every event; empty turns it off.
    std::string verbose_queue = "verbose";
    // Extra queues, each getting the event types its filter passes.
    std::vector<std::pair<std::string, PatternFilter>> extra_queues;
    // The global filter on event types.
    PatternFilter types;
    // Per-queue filters on event types, by queue name.
    absl::flat_hash_map<std::string, PatternFilter> queue_filters;
    // Prefix of the last-value link status queues; empty turns them off.
    std::string link_queue_prefix = "link.";
    // Configured link event types, by type.
    absl::flat_hash_map<std::string, LinkEventType> link_event_types;
    // Limits each queue is declared with (`queue_limits`).
    QueueLimitRules limits;
    // The cap on queues producer input creates (routing.max_dynamic_queues,
    // routing.dynamic_queue_idle).
    QueueBudget::Limits dynamic_queues;
  };

  // Reads the `routing`, `filters`, `links` and `queue_limits` sections of
  // the broadcaster's config.
  static absl::StatusOr<Settings> ParseSettings(const ConfigNode& config);

  explicit Router(Settings settings);

  // The queues for `event` (none when the filters stop it), without
  // duplicates. A link status gets the attributes of link_event.h stamped
  // on it (and any other event has them removed: the broadcaster owns that
  // namespace). InvalidArgument when a configured link event type lacks
  // its link id. `event->source()` and `type()` must be set.
  absl::StatusOr<std::vector<std::string>> Route(
      switchboard::v1::Event* event) const;

  // The queue of a source app.
  std::string AppQueue(const std::string& source) const;

  // Whether `queue` is one that producer input creates (an app or link
  // queue), as opposed to the verbose and extra queues.
  bool IsDynamicQueue(const std::string& queue) const;

  // How the bridge must declare `queue`: last-value for link queues (they
  // hold one message: no limits), the `queue_limits` rules for the rest.
  switchboard::v1::QueueSpec Spec(const std::string& queue) const;

  // Queues every running broadcaster has, declared at start so that
  // subscribers can attach before the first event: the verbose queue and
  // the extra queues.
  std::vector<std::string> StaticQueues() const;

  const Settings& settings() const { return settings_; }

 private:
  // The link a link status event reports, if it is one.
  absl::StatusOr<std::optional<std::string>> LinkQueue(
      switchboard::v1::Event* event) const;
  bool QueuePasses(const std::string& queue, const std::string& type) const;

  const Settings settings_;
};

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_ROUTER_H_
