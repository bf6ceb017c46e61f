#ifndef SWITCHBOARD_SERVICES_BROADCASTER_ROUTER_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_ROUTER_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "services/broadcaster/pattern_filter.h"
#include "services/broadcaster/queue_budget.h"
#include "services/broadcaster/queue_limits.h"
#include "services/broadcaster/routing/app_queue_rule.h"
#include "services/broadcaster/routing/link_status_rule.h"
#include "services/broadcaster/routing/routing_rule.h"
#include "services/common/config.h"
#include "switchboard/v1/bridge.pb.h"
#include "switchboard/v1/event.pb.h"

namespace switchboard::broadcaster {

// The routing table: which queues an accepted event goes to.
//
//  1. The global filter (`filters`) on the event type: an event it stops is
//     accepted but goes nowhere (counted as filtered).
//  2. Candidate queues, from the routing rules (routing/routing_rule.h) in
//     this order: the queue of the source app (routing/app_queue_rule.h),
//     the verbose queue (verbose_rule.h), the extra queues whose type
//     filter passes (extra_queues_rule.h), and `link.<id>` for a link
//     status (link_status_rule.h).
//  3. Each candidate's own filter (`filters.queues.<name>`) on the type.
//
// Commands and region requests are not routed here but by the region
// tracker (region_router.h), which needs its state: the accept pipeline's
// route phase adds them to these base queues.
//
// Immutable once built, so it is shared by all publishing threads without
// locks; a reload builds a new one.
class Router {
 public:
  using LinkEventType = routing::LinkEventType;

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
    routing::QueueFilters queue_filters;
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
  std::vector<std::string> StaticQueues() const { return static_queues_; }

  const Settings& settings() const { return settings_; }

 private:
  // Builds a rule, appends it to the routing order and returns it.
  template <typename Rule, typename... Args>
  const Rule* AddRule(Args&&... args) {
    auto rule = std::make_unique<const Rule>(std::forward<Args>(args)...);
    const Rule* added = rule.get();
    Register(std::move(rule));
    return added;
  }
  // Appends `rule` to rules_ and collects what it declares.
  void Register(std::unique_ptr<const routing::RoutingRule> rule);

  const Settings settings_;
  // The app queue rule, also one of rules_, for AppQueue.
  const routing::AppQueueRule* app_rule_ = nullptr;
  // In routing order.
  std::vector<std::unique_ptr<const routing::RoutingRule>> rules_;
  // The rules that see the events the global filter stops, in order.
  std::vector<const routing::RoutingRule*> filtered_event_rules_;
  std::vector<routing::QueueFamily> families_;
  std::vector<std::string> static_queues_;
};

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_ROUTER_H_
