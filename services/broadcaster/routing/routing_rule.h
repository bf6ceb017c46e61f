#ifndef SWITCHBOARD_SERVICES_BROADCASTER_ROUTING_ROUTING_RULE_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_ROUTING_ROUTING_RULE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "services/broadcaster/pattern_filter.h"
#include "switchboard/v1/event.pb.h"

namespace switchboard::broadcaster::routing {

// Per-queue filters on event types (`filters.queues.<name>`), by queue name.
using QueueFilters = absl::flat_hash_map<std::string, PatternFilter>;

// The queues one event is routed to, as the rules name them: a view of the
// caller's vector that applies each queue's own filter and keeps no
// duplicates. Closed (every Add a no-op) when the global type filter stopped
// the event. One lives on the stack for one Route call; not thread-safe.
class Candidates {
 public:
  // `queues`, `filters` and `type` must outlive this object.
  Candidates(std::vector<std::string>* queues, const QueueFilters* filters,
             absl::string_view type, bool open)
      : queues_(queues), filters_(filters), type_(type), open_(open) {}

  Candidates(const Candidates&) = delete;
  Candidates& operator=(const Candidates&) = delete;

  // False when nothing will be added: a rule may then skip building names.
  bool open() const { return open_; }

  // Appends `queue` unless closed, its filter stops the event's type, or it
  // is there already. The name is copied (or moved) only when appended.
  void Add(const std::string& queue) {
    if (Admits(queue)) queues_->push_back(queue);
  }
  void Add(std::string&& queue) {
    if (Admits(queue)) queues_->push_back(std::move(queue));
  }

 private:
  bool Admits(const std::string& queue) const {
    if (!open_) return false;
    auto it = filters_->find(queue);
    if (it != filters_->end() && !it->second.Passes(type_)) return false;
    for (const std::string& q : *queues_) {
      if (q == queue) return false;
    }
    return true;
  }

  std::vector<std::string>* const queues_;
  const QueueFilters* const filters_;
  const absl::string_view type_;
  const bool open_;
};

// Queues a rule makes, named by a prefix; declared once when the Router is
// built, so that Router::IsDynamicQueue and Router::Spec cost no virtual
// call per queue.
struct QueueFamily {
  // Every queue whose name starts with it (an empty prefix: every queue).
  std::string prefix;
  // Producer input creates them (one per source, per link id...), so
  // QueueBudget caps them.
  bool dynamic = false;
  // The bridge declares them last-value (one message, no limits) instead of
  // with the `queue_limits` rules.
  bool last_value = false;
};

// One routing rule of the broadcaster: given an accepted event, the queues
// it adds. Router (router.h) composes the rules in a fixed order (that order
// is the order of the queues in Route's answer) and owns the filters: the
// global type filter and, through Candidates, the per-queue ones.
//
// Contract:
//  - Built from its settings and immutable after: every method is const and
//    thread-safe (all publishing threads share one Router; a reload builds a
//    new one).
//  - Route is on the publishing path: one call per event, no locks, and no
//    allocation beyond the queue names it adds (a name the rule holds is
//    passed by reference, and copied only when appended).
//  - A rule owns copies of its settings (a Router can be moved).
//  - A rule must not change the event's type or source: the filters, and
//    the rules after it, have read them.
//
// Adding a rule: a module in services/broadcaster/routing/ implementing this
// interface (its library visible to //services/broadcaster:__pkg__), and one
// line in Router's constructor (router.cc), at its place in the order.
class RoutingRule {
 public:
  virtual ~RoutingRule() = default;

  // Adds the queues `event` goes to through `out`. Called once per event,
  // in Router's order; for an event the global filter stopped only when
  // sees_filtered_events() (then `out` is closed). A rule may rewrite the
  // parts of the event it owns (the link status rule stamps the link
  // attributes); an error (InvalidArgument) refuses the event, and Route
  // returns it.
  virtual absl::Status Route(switchboard::v1::Event* event,
                             Candidates* out) const = 0;

  // Whether Route must also see the events the global filter stops,
  // because it validates or rewrites them, not only routes them.
  virtual bool sees_filtered_events() const { return false; }

  // Appends the queues every running broadcaster has, declared at start so
  // that subscribers can attach before the first event.
  virtual void AppendStaticQueues(std::vector<std::string>* queues) const {}

  // Appends the families of queues the rule makes (see QueueFamily). A
  // queue in no family is declared with the `queue_limits` rules and not
  // counted by QueueBudget.
  virtual void AppendFamilies(std::vector<QueueFamily>* families) const {}
};

}  // namespace switchboard::broadcaster::routing

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_ROUTING_ROUTING_RULE_H_
