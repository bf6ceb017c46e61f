#include "services/broadcaster/router.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/broadcaster/routing/extra_queues_rule.h"
#include "services/broadcaster/routing/verbose_rule.h"
#include "services/common/queue_name.h"
#include "services/common/status_macros.h"

namespace switchboard::broadcaster {
namespace {

using switchboard::v1::Event;
using switchboard::v1::LinkStatus;

absl::Status CheckQueueName(const ConfigNode& node, absl::string_view key,
                            const std::string& name) {
  if (absl::Status s = ValidateQueueName(name); !s.ok()) {
    return node.Error(key, s.message());
  }
  return absl::OkStatus();
}

absl::Status ParseRouting(const ConfigNode& routing, Router::Settings* s) {
  SB_RETURN_IF_ERROR(routing.Get("app_queue_prefix", &s->app_queue_prefix));
  SB_RETURN_IF_ERROR(routing.Get("verbose_queue", &s->verbose_queue));
  SB_RETURN_IF_ERROR(
      routing.Get("max_dynamic_queues", &s->dynamic_queues.max_queues));
  SB_RETURN_IF_ERROR(
      routing.Get("dynamic_queue_idle", &s->dynamic_queues.idle));
  if (s->dynamic_queues.idle <= absl::ZeroDuration()) {
    return routing.Error("dynamic_queue_idle", "must be positive");
  }
  SB_ASSIGN_OR_RETURN(ConfigNode sources, routing.Child("app_sources"));
  SB_ASSIGN_OR_RETURN(ConfigNode queues, routing.Child("queues"));
  SB_RETURN_IF_ERROR(routing.CheckAllKeysKnown());
  // The prefix must itself be a valid start of a queue name.
  if (absl::Status st = ValidateQueueNamePrefix(s->app_queue_prefix);
      !st.ok()) {
    return routing.Error("app_queue_prefix", st.message());
  }
  if (!s->verbose_queue.empty()) {
    SB_RETURN_IF_ERROR(
        CheckQueueName(routing, "verbose_queue", s->verbose_queue));
  }
  SB_ASSIGN_OR_RETURN(s->app_sources, PatternFilter::Parse(sources));
  SB_RETURN_IF_ERROR(sources.CheckAllKeysKnown());
  for (const std::string& name : queues.Keys()) {
    SB_RETURN_IF_ERROR(CheckQueueName(queues, name, name));
    SB_ASSIGN_OR_RETURN(ConfigNode queue, queues.Child(name));
    SB_ASSIGN_OR_RETURN(PatternFilter filter, PatternFilter::Parse(queue));
    SB_RETURN_IF_ERROR(queue.CheckAllKeysKnown());
    s->extra_queues.emplace_back(name, std::move(filter));
  }
  return absl::OkStatus();
}

absl::Status ParseFilters(const ConfigNode& filters, Router::Settings* s) {
  SB_ASSIGN_OR_RETURN(s->types, PatternFilter::Parse(filters));
  SB_ASSIGN_OR_RETURN(ConfigNode queues, filters.Child("queues"));
  SB_RETURN_IF_ERROR(filters.CheckAllKeysKnown());
  for (const std::string& name : queues.Keys()) {
    SB_RETURN_IF_ERROR(CheckQueueName(queues, name, name));
    SB_ASSIGN_OR_RETURN(ConfigNode queue, queues.Child(name));
    SB_ASSIGN_OR_RETURN(s->queue_filters[name], PatternFilter::Parse(queue));
    SB_RETURN_IF_ERROR(queue.CheckAllKeysKnown());
  }
  return absl::OkStatus();
}

absl::Status ParseLinks(const ConfigNode& links, Router::Settings* s) {
  SB_RETURN_IF_ERROR(links.Get("queue_prefix", &s->link_queue_prefix));
  SB_ASSIGN_OR_RETURN(ConfigNode types, links.Child("event_types"));
  SB_RETURN_IF_ERROR(links.CheckAllKeysKnown());
  if (!s->link_queue_prefix.empty()) {
    if (absl::Status st = ValidateQueueNamePrefix(s->link_queue_prefix);
        !st.ok()) {
      return links.Error("queue_prefix", st.message());
    }
  }
  for (const std::string& type : types.Keys()) {
    SB_ASSIGN_OR_RETURN(ConfigNode node, types.Child(type));
    std::string state;
    Router::LinkEventType link_type;
    SB_RETURN_IF_ERROR(node.Get("state", &state));
    SB_RETURN_IF_ERROR(node.Get("link_id_field", &link_type.link_id_field));
    SB_RETURN_IF_ERROR(node.CheckAllKeysKnown());
    if (state == "up" || state == "UP") {
      link_type.state = LinkStatus::UP;
    } else if (state == "down" || state == "DOWN") {
      link_type.state = LinkStatus::DOWN;
    } else {
      return node.Error(
          "state", absl::StrCat("expected 'up' or 'down', got '", state, "'"));
    }
    s->link_event_types[type] = std::move(link_type);
  }
  return absl::OkStatus();
}

// Queues of other kinds must not look like link queues: the bridge would
// have to declare one name two ways.
absl::Status CheckNoLinkPrefix(const ConfigNode& node, absl::string_view key,
                               const std::string& name,
                               const std::string& link_prefix) {
  if (!link_prefix.empty() && absl::StartsWith(name, link_prefix)) {
    return node.Error(
        key, absl::StrCat("'", name, "' starts with links.queue_prefix '",
                          link_prefix, "', which is kept for link queues"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Router::Settings> Router::ParseSettings(
    const ConfigNode& config) {
  Settings settings;
  SB_ASSIGN_OR_RETURN(ConfigNode routing, config.Child("routing"));
  SB_ASSIGN_OR_RETURN(ConfigNode filters, config.Child("filters"));
  SB_ASSIGN_OR_RETURN(ConfigNode links, config.Child("links"));
  SB_ASSIGN_OR_RETURN(ConfigNode limits, config.Child("queue_limits"));
  SB_ASSIGN_OR_RETURN(settings.limits, QueueLimitRules::Parse(limits));
  SB_RETURN_IF_ERROR(ParseRouting(routing, &settings));
  SB_RETURN_IF_ERROR(ParseFilters(filters, &settings));
  SB_RETURN_IF_ERROR(ParseLinks(links, &settings));
  const std::string& link_prefix = settings.link_queue_prefix;
  SB_RETURN_IF_ERROR(CheckNoLinkPrefix(routing, "app_queue_prefix",
                                       settings.app_queue_prefix, link_prefix));
  if (!link_prefix.empty() &&
      absl::StartsWith(link_prefix, settings.app_queue_prefix)) {
    return links.Error(
        "queue_prefix",
        absl::StrCat("'", link_prefix,
                     "' starts with routing.app_queue_prefix '",
                     settings.app_queue_prefix,
                     "': an app queue could take a link queue's name"));
  }
  SB_RETURN_IF_ERROR(CheckNoLinkPrefix(routing, "verbose_queue",
                                       settings.verbose_queue, link_prefix));
  SB_ASSIGN_OR_RETURN(ConfigNode extra, routing.Child("queues"));
  for (const auto& [name, filter] : settings.extra_queues) {
    SB_RETURN_IF_ERROR(CheckNoLinkPrefix(extra, name, name, link_prefix));
  }
  return settings;
}

// The rules, in routing order: the order of the queues in Route's answer.
// A new rule is one module in services/broadcaster/routing/ and one line
// here (see routing_rule.h).
Router::Router(Settings settings) : settings_(std::move(settings)) {
  app_rule_ = AddRule<routing::AppQueueRule>(settings_.app_queue_prefix,
                                             settings_.app_sources);
  AddRule<routing::VerboseRule>(settings_.verbose_queue);
  AddRule<routing::ExtraQueuesRule>(settings_.extra_queues);
  AddRule<routing::LinkStatusRule>(settings_.link_queue_prefix,
                                   settings_.link_event_types);
}

void Router::Register(std::unique_ptr<const routing::RoutingRule> rule) {
  if (rule->sees_filtered_events()) {
    filtered_event_rules_.push_back(rule.get());
  }
  rule->AppendStaticQueues(&static_queues_);
  rule->AppendFamilies(&families_);
  rules_.push_back(std::move(rule));
}

std::string Router::AppQueue(const std::string& source) const {
  return app_rule_->QueueOf(source);
}

bool Router::IsDynamicQueue(const std::string& queue) const {
  for (const routing::QueueFamily& family : families_) {
    if (family.dynamic && absl::StartsWith(queue, family.prefix)) return true;
  }
  return false;
}

absl::StatusOr<std::vector<std::string>> Router::Route(Event* event) const {
  std::vector<std::string> queues;
  const std::string& type = event->type();
  const bool passes = settings_.types.Passes(type);
  routing::Candidates candidates(&queues, &settings_.queue_filters, type,
                                 passes);
  if (passes) {
    for (const auto& rule : rules_) {
      SB_RETURN_IF_ERROR(rule->Route(event, &candidates));
    }
  } else {
    // Filtered: the event goes nowhere, but is still validated and stamped.
    for (const routing::RoutingRule* rule : filtered_event_rules_) {
      SB_RETURN_IF_ERROR(rule->Route(event, &candidates));
    }
  }
  return queues;
}

switchboard::v1::QueueSpec Router::Spec(const std::string& queue) const {
  switchboard::v1::QueueSpec spec;
  spec.set_name(queue);
  for (const routing::QueueFamily& family : families_) {
    if (family.last_value && absl::StartsWith(queue, family.prefix)) {
      spec.set_last_value(true);
      return spec;
    }
  }
  *spec.mutable_limits() = settings_.limits.For(queue);
  return spec;
}

}  // namespace switchboard::broadcaster
