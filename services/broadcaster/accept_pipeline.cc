// The broadcaster's publishing path: one batch of a producer through named
// phases, validate -> stamp -> track -> route -> buffer -> answer, each
// event ending with one Outcome.
#include <algorithm>
#include <map>
#include <optional>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "services/broadcaster/broadcaster_service.h"
#include "services/broadcaster/event_validation.h"
#include "services/common/link_event.h"
#include "services/common/logging.h"
#include "services/common/status_macros.h"

namespace switchboard::broadcaster {
namespace {

using switchboard::v1::Event;
using switchboard::v1::PublishRequest;
using switchboard::v1::PublishResponse;
using switchboard::v1::RoutedEvent;

void SetTime(Event* e, absl::Time now) {
  const int64_t ns = absl::ToUnixNanos(now);
  e->mutable_time()->set_seconds(ns / 1'000'000'000);
  e->mutable_time()->set_nanos(static_cast<int32_t>(ns % 1'000'000'000));
}

// The most a sequence number adds to a serialized event (tag + varint).
constexpr size_t kMaxSequenceBytes = 11;

std::string TooBig(size_t size, const BroadcasterConfig& config) {
  return absl::StrCat("event is ", size, " bytes serialized; the limit is ",
                      config.max_event_bytes, " (max_event_bytes)");
}

RoutedEvent ToRouted(const Event& e, std::vector<std::string> queues) {
  RoutedEvent r;
  e.SerializeToString(r.mutable_event());
  r.set_id(e.id());
  r.set_source(e.source());
  r.set_type(e.type());
  r.set_time_unix_nanos(e.time().seconds() * 1'000'000'000 + e.time().nanos());
  for (std::string& q : queues) r.add_queues(std::move(q));
  return r;
}

// The tracker's own events (a switch with very many connections, say) are
// held to the producers' size limit too; one that exceeds it is logged and
// not sent.
bool VirtualEventFits(const RoutedEvent& r, const BroadcasterConfig& config) {
  if (r.event().size() <= config.max_event_bytes) return true;
  Logger("regions")->error("not sending the tracker's {} event {}: {}",
                           r.type(), r.id(), TooBig(r.event().size(), config));
  return false;
}

}  // namespace

// Everything one Accept call works on. Units of one producer's event
// (its own copy, a command's scoped copies, the tracker's output) are
// contiguous, so the buffer takes them all or none.
struct BroadcasterService::Batch {
  Batch(PublishRequest& r, const Settings& s, absl::Time t)
      : request(r),
        settings(s),
        now(t),
        outcome(r.events_size(), Outcome::kInvalid),
        error(r.events_size()),
        unroutable(r.events_size()) {}

  PublishRequest& request;
  const Settings& settings;
  const absl::Time now;
  std::vector<Outcome> outcome;
  // kInvalid: why (INVALID_ARGUMENT, or RESOURCE_EXHAUSTED over the queue
  // cap).
  std::vector<absl::Status> error;
  // kUnroutable: why.
  std::vector<absl::Status> unroutable;
  // The tracker's events and scoped command copies live here.
  std::deque<Event> owned;
  std::vector<Unit> units;
  // Held from the batch's first tracker call until its ticket is taken.
  std::optional<absl::MutexLock> tracker_order;
  // CONFIRMED: the batch's first Confirmations token (event i's is
  // confirm_base + i), and how many copies of each event were buffered.
  uint64_t confirm_base = 0;
  std::vector<uint32_t> copies;
  // The producer (null: auth off).
  const Identity* who = nullptr;

  bool regions() const { return settings.config.regions.enabled; }
};

uint64_t BroadcasterService::Number(std::vector<Unit>& units) {
  std::vector<Event*> own;
  own.reserve(units.size());
  bool copies = false;
  for (Unit& u : units) {
    if (u.parent != nullptr) {
      copies = true;
      continue;
    }
    if (u.event->id().empty()) u.event->set_id(NewEventId());
    own.push_back(u.event);
  }
  if (copies) {
    // A command with scoped copies only (no queue of its own) is numbered
    // too, for its copies to share.
    absl::flat_hash_set<const Event*> listed(own.begin(), own.end());
    for (Unit& u : units) {
      if (u.parent != nullptr && listed.insert(u.parent).second) {
        own.push_back(u.parent);
      }
    }
  }
  const uint64_t ticket = AssignSequences(own);
  for (Unit& u : units) {
    if (u.parent == nullptr) continue;
    u.event->set_id(u.parent->id());
    u.event->set_sequence(u.parent->sequence());
  }
  return ticket;
}

void BroadcasterService::AddTrackerOutput(RegionTracker::Output& out,
                                          const Router& router, int owner,
                                          std::deque<Event>& owned,
                                          std::vector<Unit>& units) {
  switch_events_emitted_ += out.switch_events.size();
  region_requests_ += out.requests.size();
  for (Event& e : out.switch_events) {
    Event& event = owned.emplace_back(std::move(e));
    absl::StatusOr<std::vector<std::string>> queues = router.Route(&event);
    // The filters may keep virtual events from some or all queues, as any
    // other event.
    if (!queues.ok() || queues->empty()) continue;
    units.push_back(Unit{&event, *std::move(queues), owner});
  }
  for (auto& [queue, e] : out.requests) {
    Event& event = owned.emplace_back(std::move(e));
    units.push_back(Unit{&event, {queue}, owner});
  }
}

void BroadcasterService::HoldTrackerOrder(Batch& batch) {
  if (!batch.tracker_order.has_value()) {
    batch.tracker_order.emplace(&tracker_order_mu_);
  }
}

absl::StatusOr<std::vector<std::string>> BroadcasterService::Validate(
    Event* e, Batch& batch) {
  const BroadcasterConfig& config = batch.settings.config;
  SB_RETURN_IF_ERROR(ValidateEvent(*e, config.time_bounds, batch.now));
  if (batch.regions()) {
    SB_RETURN_IF_ERROR(ValidateRegionEvent(*e, config.regions));
  }
  // Its base queues: a configured link event type without its link id is
  // invalid. (Also stamps the link attributes the broadcaster owns.)
  return batch.settings.router.Route(e);
}

absl::Status BroadcasterService::AdmitQueues(
    const Event& e, const std::vector<std::string>& queues, Batch& batch) {
  const Router& router = batch.settings.router;
  for (const std::string& q : queues) {
    if (router.IsDynamicQueue(q)) {
      SB_RETURN_IF_ERROR(queue_budget_.Admit(q, batch.now));
    }
  }
  if (batch.regions() && !EventRegion(e).empty()) {
    SB_RETURN_IF_ERROR(queue_budget_.Admit(
        absl::StrCat(batch.settings.config.regions.queue_prefix,
                     EventRegion(e)),
        batch.now));
  }
  return absl::OkStatus();
}

void BroadcasterService::Stamp(Event* e, absl::Time now) {
  // Before the tracker sees it: scoped copies share the id and time.
  if (e->id().empty()) e->set_id(NewEventId());
  if (!e->has_time()) SetTime(e, now);
}

bool BroadcasterService::Track(int i, Event* e, Batch& batch) {
  if (!batch.regions() || EventRegion(*e).empty()) return true;
  HoldTrackerOrder(batch);
  RegionTracker::Output out = tracker_.OnRegionEvent(e, batch.now);
  AddTrackerOutput(out, batch.settings.router, i, batch.owned, batch.units);
  if (out.forward) return true;
  batch.outcome[i] = Outcome::kAbsorbed;
  if (out.dropped) ++region_events_dropped_;
  if (out.absorbed) ++switch_events_absorbed_;
  return false;
}

void BroadcasterService::Route(int i, Event* e, std::vector<std::string> queues,
                               Batch& batch) {
  const BroadcasterConfig& config = batch.settings.config;
  std::vector<std::pair<std::string, Event>> scoped;
  batch.outcome[i] = Outcome::kRouted;
  if (batch.regions() && e->has_command() &&
      batch.settings.router.settings().types.Passes(e->type())) {
    // Its scoped copies are buffered without the size check of the buffer
    // phase, so it is checked here with room for the sequence it gets.
    if (const size_t size = e->ByteSizeLong();
        size + kMaxSequenceBytes > config.max_event_bytes) {
      batch.error[i] =
          absl::InvalidArgumentError(TooBig(size + kMaxSequenceBytes, config));
      batch.outcome[i] = Outcome::kInvalid;
      return;
    }
    HoldTrackerOrder(batch);
    RegionTracker::CommandRoute route = tracker_.RouteCommand(*e, batch.now);
    if (absl::Status allowed = AuthorizeRoute(route, batch); !allowed.ok()) {
      batch.error[i] = std::move(allowed);
      batch.outcome[i] = Outcome::kInvalid;
      return;
    }
    for (std::string& q : route.queues) queues.push_back(std::move(q));
    scoped = std::move(route.scoped);
    if (!route.error.ok()) {
      batch.outcome[i] = Outcome::kUnroutable;
      batch.unroutable[i] = std::move(route.error);
    }
  }
  if (queues.empty() && scoped.empty()) {
    batch.outcome[i] = Outcome::kFiltered;
    return;
  }
  if (!queues.empty()) batch.units.push_back(Unit{e, std::move(queues), i});
  for (auto& [queue, copy] : scoped) {
    batch.units.push_back(
        Unit{&batch.owned.emplace_back(std::move(copy)), {queue}, i, e});
  }
}

void BroadcasterService::Buffer(Batch& batch) {
  const BroadcasterConfig& config = batch.settings.config;
  const uint64_t ticket = Number(batch.units);
  batch.tracker_order.reset();

  std::vector<RoutedEvent> routed;
  routed.reserve(batch.units.size());
  // The end (in `routed`) of each producer event's units: the buffer takes
  // an event's copies all or none, so a command refused in part never runs
  // twice when its producer sends it again.
  std::vector<size_t> group_ends;
  std::vector<int> group_owner;
  // CONFIRMED: each copy carries its producer event's token.
  std::vector<uint64_t> tokens;
  // Producers' command copies for region queues: their place in `routed`
  // and the region (metrics).
  std::vector<std::pair<size_t, std::string>> command_copies;
  const int n = batch.request.events_size();
  for (Unit& u : batch.units) {
    RoutedEvent r = ToRouted(*u.event, std::move(u.queues));
    // The size limit is checked on the bytes themselves (assigned fields
    // included): one serialization per event, no separate size pass.
    const bool own =
        u.owner >= 0 && u.event == batch.request.mutable_events(u.owner);
    if (own && r.event().size() > config.max_event_bytes) {
      batch.error[u.owner] =
          absl::InvalidArgumentError(TooBig(r.event().size(), config));
      batch.outcome[u.owner] = Outcome::kInvalid;
      continue;
    }
    if (u.parent == nullptr && !own && !VirtualEventFits(r, config)) continue;
    if (!group_owner.empty() && group_owner.back() == u.owner && u.owner >= 0) {
      group_ends.back() = routed.size() + 1;
    } else {
      group_owner.push_back(u.owner);
      group_ends.push_back(routed.size() + 1);
    }
    if (batch.confirm_base != 0) {
      tokens.push_back(
          u.owner >= 0 && u.owner < n ? batch.confirm_base + u.owner : 0);
    }
    if (batch.regions() && u.owner >= 0 && u.event->has_command()) {
      for (const std::string& queue : r.queues()) {
        if (absl::StartsWith(queue, config.regions.queue_prefix)) {
          command_copies.push_back(
              {routed.size(),
               queue.substr(config.regions.queue_prefix.size())});
        }
      }
    }
    routed.push_back(std::move(r));
  }
  // An event found too big after its tracker output was grouped: its
  // group's other units still go (they are the tracker's, not its copies).
  // (PushInOrder moves the events out of `routed`.)
  const size_t pushed = PushInOrder(ticket, routed, group_ends, tokens);
  if (!command_copies.empty()) CountRegionCommands(command_copies, pushed);
  if (batch.confirm_base != 0) {
    batch.copies.assign(n, 0);
    for (size_t c = 0; c < pushed; ++c) {
      if (tokens[c] != 0) ++batch.copies[tokens[c] - batch.confirm_base];
    }
  }
  for (size_t g = 0; g < group_ends.size(); ++g) {
    const int owner = group_owner[g];
    if (owner < 0 || owner >= n || group_ends[g] <= pushed) continue;
    Outcome& o = batch.outcome[owner];
    if (o == Outcome::kRouted || o == Outcome::kFiltered ||
        o == Outcome::kAbsorbed || o == Outcome::kUnroutable) {
      o = Outcome::kRefusedFull;
    }
  }
}

// Per region, the producers' command copies that went into the buffer for
// its queue (metrics): `copies` are (place in the batch's routed events,
// region), the first `pushed` of which were buffered.
void BroadcasterService::CountRegionCommands(
    const std::vector<std::pair<size_t, std::string>>& copies, size_t pushed) {
  std::map<std::string, uint64_t> by_region;
  for (const auto& [place, region] : copies) {
    if (place < pushed) ++by_region[region];
  }
  if (!by_region.empty()) region_commands_.Add(by_region);
}

PublishResponse BroadcasterService::Answer(Batch& batch) {
  PublishResponse response;
  response.set_batch_id(batch.request.batch_id());
  const EventBuffer::Stats stats = buffer_.stats();
  auto reject = [&response](int index, absl::StatusCode code,
                            absl::string_view reason) {
    auto* r = response.add_rejections();
    r->set_index(index);
    r->set_code(static_cast<int32_t>(code));
    r->set_reason(absl::StrCat("events[", index, "]: ", reason));
  };
  uint64_t accepted = 0, filtered = 0, links = 0, invalid = 0, full = 0;
  uint64_t over_cap = 0;
  uint64_t commands = 0, unroutables = 0;
  // In request order.
  for (int i = 0; i < batch.request.events_size(); ++i) {
    const Event& e = batch.request.events(i);
    switch (batch.outcome[i]) {
      case Outcome::kUnroutable:
        // Kept in the unroutable queue: its id is reported with the error.
        response.add_event_ids(e.id());
        ++unroutables;
        reject(i, batch.unroutable[i].code(), batch.unroutable[i].message());
        break;
      case Outcome::kRouted:
      case Outcome::kFiltered:
      case Outcome::kAbsorbed:
        response.add_event_ids(e.id());
        ++accepted;
        if (batch.outcome[i] == Outcome::kFiltered) {
          ++filtered;
        } else if (e.attributes().contains(std::string(kLinkIdAttribute))) {
          ++links;
        } else if (batch.regions() && e.has_command() &&
                   batch.outcome[i] == Outcome::kRouted) {
          ++commands;
        }
        break;
      case Outcome::kInvalid:
        response.add_event_ids();
        if (absl::IsResourceExhausted(batch.error[i])) {
          ++over_cap;
        } else if (!absl::IsPermissionDenied(batch.error[i])) {
          ++invalid;  // denials are counted by the AuthPolicy
        }
        reject(i, batch.error[i].code(), batch.error[i].message());
        break;
      case Outcome::kRefusedFull:
        response.add_event_ids();
        ++full;
        reject(i, absl::StatusCode::kResourceExhausted,
               absl::StrCat("the buffer is full (", stats.events, " events, ",
                            stats.bytes,
                            " bytes) because the bridge is slow or down; "
                            "retry later"));
        break;
    }
  }
  response.set_accepted(accepted);
  accepted_ += accepted;
  filtered_ += filtered;
  link_events_ += links;
  commands_routed_ += commands;
  commands_unroutable_ += unroutables;
  rejected_invalid_ += invalid;
  rejected_full_ += full;
  rejected_queue_cap_ += over_cap;
  if (full > 0 || stats.dropped > 0) ReportLosses(stats);
  return response;
}

PublishResponse BroadcasterService::Accept(PublishRequest& request) {
  PublishResponse response;
  // In-process callers (tests, tools) act as no identity: auth is for
  // RPC callers.
  Accept(
      request, switchboard::v1::BUFFERED,
      [&response](PublishResponse r) { response = std::move(r); },
      /*who=*/nullptr);
  return response;
}

void BroadcasterService::ApplyConfirmations(
    const std::vector<absl::Status>& outcomes, PublishResponse& response) {
  absl::flat_hash_set<uint32_t> rejected;
  for (const auto& r : response.rejections()) rejected.insert(r.index());
  uint64_t lost = 0;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    if (outcomes[i].ok() || rejected.contains(i)) continue;
    auto* r = response.add_rejections();
    r->set_index(i);
    r->set_code(static_cast<int32_t>(outcomes[i].code()));
    r->set_reason(absl::StrCat("events[", i, "]: ", outcomes[i].message()));
    ++lost;
  }
  if (lost > 0) {
    std::sort(
        response.mutable_rejections()->begin(),
        response.mutable_rejections()->end(),
        [](const auto& a, const auto& b) { return a.index() < b.index(); });
  }
  response.set_accepted(response.accepted() - lost);
  confirm_failed_ += lost;
  confirmed_ += response.accepted();
}

namespace {

// The answer to a batch refused whole: every event rejected for `reason`.
PublishResponse RefuseBatch(const PublishRequest& request,
                            const std::string& reason) {
  PublishResponse response;
  response.set_batch_id(request.batch_id());
  for (int i = 0; i < request.events_size(); ++i) {
    auto* r = response.add_rejections();
    r->set_index(i);
    r->set_code(static_cast<int32_t>(absl::StatusCode::kInvalidArgument));
    r->set_reason(reason);
    response.add_event_ids();
  }
  return response;
}

}  // namespace

absl::Status BroadcasterService::AuthorizeRoute(
    const RegionTracker::CommandRoute& route, const Batch& batch) {
  if (batch.who == nullptr) return absl::OkStatus();
  const RegionSettings& regions = batch.settings.config.regions;
  const std::string& prefix = regions.queue_prefix;
  auto check = [&](const std::string& queue) {
    // Reaching no region: answered NOT_FOUND / FAILED_PRECONDITION anyway.
    if (queue == regions.unroutable_queue) return absl::OkStatus();
    absl::string_view region = queue;
    if (!absl::ConsumePrefix(&region, prefix)) return absl::OkStatus();
    return AuthorizeCommandRegion(*auth_, batch.who, region);
  };
  for (const std::string& q : route.queues) SB_RETURN_IF_ERROR(check(q));
  for (const auto& [q, copy] : route.scoped) SB_RETURN_IF_ERROR(check(q));
  return absl::OkStatus();
}

void BroadcasterService::Accept(PublishRequest& request,
                                switchboard::v1::Acceptance level,
                                AnswerFn answer, const Identity* who) {
  const int n = request.events_size();
  if (level != switchboard::v1::BUFFERED &&
      level != switchboard::v1::CONFIRMED) {
    rejected_invalid_ += n;
    return answer(RefuseBatch(
        request, absl::StrCat("acceptance: ", static_cast<int>(level),
                              " is not BUFFERED (1) or CONFIRMED (2)")));
  }
  PublishResponse response;
  uint64_t confirm_base = 0;
  std::vector<uint32_t> copies;
  {
    // One settings snapshot for the whole batch; see the class comment.
    absl::ReaderMutexLock settings_lock(&settings_mu_);
    const BroadcasterConfig& config = settings_->config;
    if (static_cast<uint64_t>(n) > config.max_batch_events) {
      rejected_invalid_ += n;
      return answer(RefuseBatch(
          request,
          absl::StrCat("the batch has ", n, " events; the limit is ",
                       config.max_batch_events, " (max_batch_events)")));
    }
    Batch batch(request, *settings_, absl::Now());
    batch.who = auth_ != nullptr ? who : nullptr;
    if (level == switchboard::v1::CONFIRMED) {
      batch.confirm_base = confirmations_.Reserve(n);
    }
    for (int i = 0; i < n; ++i) {
      Event* e = request.mutable_events(i);
      if (absl::Status allowed =
              batch.who == nullptr
                  ? absl::OkStatus()
                  : AuthorizePublish(*auth_, batch.who, *e, EventRegion(*e));
          !allowed.ok()) {
        batch.error[i] = std::move(allowed);
        continue;  // Outcome::kInvalid
      }
      absl::StatusOr<std::vector<std::string>> queues = Validate(e, batch);
      absl::Status admitted =
          queues.ok() ? AdmitQueues(*e, *queues, batch) : queues.status();
      if (!admitted.ok()) {
        batch.error[i] = std::move(admitted);
        continue;  // Outcome::kInvalid
      }
      Stamp(e, batch.now);
      if (!Track(i, e, batch)) continue;  // Outcome::kAbsorbed
      Route(i, e, *std::move(queues), batch);
    }
    Buffer(batch);
    response = Answer(batch);
    confirm_base = batch.confirm_base;
    copies = std::move(batch.copies);
  }
  if (confirm_base == 0) return answer(std::move(response));
  // Outside the settings lock: the answer may come at once (nothing to
  // wait for), or later on the forwarder's thread.
  confirmations_.Arm(
      confirm_base, std::move(copies),
      [this, response = std::move(response),
       answer = std::move(answer)](std::vector<absl::Status> outcomes) mutable {
        ApplyConfirmations(outcomes, response);
        answer(std::move(response));
      });
}

void BroadcasterService::Tick() {
  absl::ReaderMutexLock settings_lock(&settings_mu_);
  if (!settings_->config.regions.enabled) return;
  std::deque<Event> owned;
  std::vector<Unit> units;
  uint64_t ticket;
  {
    absl::MutexLock order(&tracker_order_mu_);
    RegionTracker::Output out = tracker_.Tick(absl::Now());
    if (out.switch_events.empty() && out.requests.empty()) return;
    AddTrackerOutput(out, settings_->router, -1, owned, units);
    ticket = Number(units);
  }
  std::vector<RoutedEvent> routed;
  for (Unit& u : units) {
    RoutedEvent r = ToRouted(*u.event, std::move(u.queues));
    if (VirtualEventFits(r, settings_->config)) routed.push_back(std::move(r));
  }
  const size_t pushed = PushInOrder(ticket, routed, {});
  if (pushed < routed.size()) {
    Logger("regions")->warn(
        "buffer full: {} of {} region requests and switch events lost",
        routed.size() - pushed, routed.size());
  }
}

}  // namespace switchboard::broadcaster
