#include "services/broadcaster/router.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/common/link_event.h"
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

// The string at a dotted path of a Struct, e.g. "link.id".
std::optional<std::string> StringAt(const google::protobuf::Struct& data,
                                    absl::string_view path) {
  const google::protobuf::Struct* node = &data;
  std::vector<absl::string_view> parts = absl::StrSplit(path, '.');
  for (size_t i = 0; i < parts.size(); ++i) {
    auto it = node->fields().find(std::string(parts[i]));
    if (it == node->fields().end()) return std::nullopt;
    const google::protobuf::Value& value = it->second;
    if (i + 1 == parts.size()) {
      if (value.kind_case() != google::protobuf::Value::kStringValue ||
          value.string_value().empty()) {
        return std::nullopt;
      }
      return value.string_value();
    }
    if (value.kind_case() != google::protobuf::Value::kStructValue) {
      return std::nullopt;
    }
    node = &value.struct_value();
  }
  return std::nullopt;
}

void EraseLinkAttributes(Event* event) {
  if (event->attributes().empty()) return;
  event->mutable_attributes()->erase(std::string(kLinkIdAttribute));
  event->mutable_attributes()->erase(std::string(kLinkStateAttribute));
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

Router::Router(Settings settings) : settings_(std::move(settings)) {}

std::string Router::AppQueue(const std::string& source) const {
  return QueueNameFor(settings_.app_queue_prefix, source);
}

bool Router::IsDynamicQueue(const std::string& queue) const {
  if (absl::StartsWith(queue, settings_.app_queue_prefix)) return true;
  return !settings_.link_queue_prefix.empty() &&
         absl::StartsWith(queue, settings_.link_queue_prefix);
}

bool Router::QueuePasses(const std::string& queue,
                         const std::string& type) const {
  auto it = settings_.queue_filters.find(queue);
  return it == settings_.queue_filters.end() || it->second.Passes(type);
}

absl::StatusOr<std::optional<std::string>> Router::LinkQueue(
    Event* event) const {
  if (settings_.link_queue_prefix.empty()) return std::nullopt;
  std::optional<LinkReport> report;
  auto configured = settings_.link_event_types.find(event->type());
  if (configured != settings_.link_event_types.end()) {
    const LinkEventType& type = configured->second;
    std::optional<std::string> id;
    if (type.link_id_field.empty()) {
      if (!event->subject().empty()) id = event->subject();
    } else if (event->has_json_data()) {
      id = StringAt(event->json_data(), type.link_id_field);
    }
    if (!id.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "type '", event->type(),
          "' reports a link status (links.event_types), but the event has no "
          "link id at ",
          type.link_id_field.empty()
              ? std::string("subject")
              : absl::StrCat("json_data.", type.link_id_field)));
    }
    report = LinkReport{*std::move(id), type.state};
  } else if (event->has_link_status()) {
    report = LinkReport{event->link_status().link_id(),
                        event->link_status().state()};
  }
  if (!report.has_value()) return std::nullopt;
  StampLinkReport(*report, event);
  return LinkQueueName(settings_.link_queue_prefix, report->link_id);
}

absl::StatusOr<std::vector<std::string>> Router::Route(Event* event) const {
  EraseLinkAttributes(event);
  SB_ASSIGN_OR_RETURN(std::optional<std::string> link_queue, LinkQueue(event));
  std::vector<std::string> queues;
  const std::string& type = event->type();
  if (!settings_.types.Passes(type)) return queues;
  auto add = [&](std::string queue) {
    if (!QueuePasses(queue, type)) return;
    for (const std::string& q : queues) {
      if (q == queue) return;
    }
    queues.push_back(std::move(queue));
  };
  if (settings_.app_sources.Passes(event->source())) {
    add(AppQueue(event->source()));
  }
  if (!settings_.verbose_queue.empty()) add(settings_.verbose_queue);
  for (const auto& [name, filter] : settings_.extra_queues) {
    if (filter.Passes(type)) add(name);
  }
  if (link_queue.has_value()) add(*std::move(link_queue));
  return queues;
}

switchboard::v1::QueueSpec Router::Spec(const std::string& queue) const {
  switchboard::v1::QueueSpec spec;
  spec.set_name(queue);
  spec.set_last_value(!settings_.link_queue_prefix.empty() &&
                      absl::StartsWith(queue, settings_.link_queue_prefix));
  if (!spec.last_value()) *spec.mutable_limits() = settings_.limits.For(queue);
  return spec;
}

std::vector<std::string> Router::StaticQueues() const {
  std::vector<std::string> queues;
  if (!settings_.verbose_queue.empty()) {
    queues.push_back(settings_.verbose_queue);
  }
  for (const auto& [name, filter] : settings_.extra_queues) {
    queues.push_back(name);
  }
  return queues;
}

}  // namespace switchboard::broadcaster
