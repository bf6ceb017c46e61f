// The broadcaster's publishing path: one batch of a producer through named
// phases, validate -> stamp -> track -> route -> buffer -> answer, each
// event ending with one Outcome. This file holds Accept and the phases up
// to routing; buffering is in accept_buffer.cc, the answer in
// accept_answer.cc, the batch's state in accept_batch.h.
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "services/broadcaster/accept_batch.h"
#include "services/broadcaster/broadcaster_service.h"
#include "services/broadcaster/event_id.h"
#include "services/broadcaster/event_validation.h"
#include "services/broadcaster/region_events.h"
#include "services/common/status_macros.h"

namespace switchboard::broadcaster {
namespace {

using switchboard::v1::Event;
using switchboard::v1::PublishRequest;
using switchboard::v1::PublishResponse;

void SetTime(Event* e, absl::Time now) {
  const int64_t ns = absl::ToUnixNanos(now);
  e->mutable_time()->set_seconds(ns / 1'000'000'000);
  e->mutable_time()->set_nanos(static_cast<int32_t>(ns % 1'000'000'000));
}

}  // namespace

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

void BroadcasterService::Accept(PublishRequest& request,
                                switchboard::v1::Acceptance level,
                                AnswerFn answer, const Identity* who) {
  const int n = request.events_size();
  if (level != switchboard::v1::BUFFERED &&
      level != switchboard::v1::CONFIRMED) {
    rejected_invalid_ += n;
    return answer(accept_internal::RefuseBatch(
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
      return answer(accept_internal::RefuseBatch(
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
      RunEventPhases(i, request.mutable_events(i), batch);
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

void BroadcasterService::RunEventPhases(int i, Event* e, Batch& batch) {
  if (absl::Status allowed =
          batch.who == nullptr
              ? absl::OkStatus()
              : AuthorizePublish(*auth_, batch.who, *e, EventRegion(*e));
      !allowed.ok()) {
    batch.error[i] = std::move(allowed);
    return;  // Outcome::kInvalid
  }
  absl::StatusOr<std::vector<std::string>> queues = Validate(e, batch);
  absl::Status admitted =
      queues.ok() ? AdmitQueues(*e, *queues, batch) : queues.status();
  if (!admitted.ok()) {
    batch.error[i] = std::move(admitted);
    return;  // Outcome::kInvalid
  }
  Stamp(e, batch.now);
  if (!Track(i, e, batch)) return;  // Outcome::kAbsorbed
  Route(i, e, *std::move(queues), batch);
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

void BroadcasterService::HoldTrackerOrder(Batch& batch) {
  if (!batch.tracker_order.has_value()) {
    batch.tracker_order.emplace(&tracker_order_mu_);
  }
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
        size + accept_internal::kMaxSequenceBytes > config.max_event_bytes) {
      batch.error[i] = absl::InvalidArgumentError(accept_internal::TooBig(
          size + accept_internal::kMaxSequenceBytes, config));
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

}  // namespace switchboard::broadcaster
