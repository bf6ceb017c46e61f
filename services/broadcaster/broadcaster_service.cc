#include "services/broadcaster/broadcaster_service.h"

#include "absl/container/flat_hash_set.h"
#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/broadcaster/event_validation.h"
#include "services/common/link_event.h"
#include "services/common/logging.h"
#include "services/common/status.h"

namespace switchboard::broadcaster {
namespace {

using switchboard::v1::Event;
using switchboard::v1::PublishRequest;
using switchboard::v1::PublishResponse;
using switchboard::v1::RoutedEvent;

absl::Status ParseBridge(const ConfigNode& node, Forwarder::Options* o) {
  SB_RETURN_IF_ERROR(node.Get("address", &o->bridge_address));
  SB_RETURN_IF_ERROR(node.Get("batch_max_events", &o->batch_max_events));
  SB_RETURN_IF_ERROR(node.Get("batch_max_bytes", &o->batch_max_bytes));
  SB_RETURN_IF_ERROR(
      node.Get("max_inflight_batches", &o->max_inflight_batches));
  SB_RETURN_IF_ERROR(node.Get("backoff_initial", &o->backoff_initial));
  SB_RETURN_IF_ERROR(node.Get("backoff_max", &o->backoff_max));
  SB_RETURN_IF_ERROR(node.CheckAllKeysKnown());
  if (o->bridge_address.empty()) return node.Error("address", "must be set");
  if (o->batch_max_events == 0) {
    return node.Error("batch_max_events", "must be at least 1");
  }
  if (o->batch_max_bytes < 1024) {
    return node.Error("batch_max_bytes", "must be at least 1024");
  }
  if (o->max_inflight_batches == 0) {
    return node.Error("max_inflight_batches", "must be at least 1");
  }
  if (o->backoff_initial <= absl::ZeroDuration()) {
    return node.Error("backoff_initial", "must be positive");
  }
  if (o->backoff_max < o->backoff_initial) {
    return node.Error("backoff_max", "must be at least backoff_initial");
  }
  return absl::OkStatus();
}

absl::Status ParseBuffer(const ConfigNode& node, EventBuffer::Limits* l) {
  std::string overflow = "reject";
  SB_RETURN_IF_ERROR(node.Get("max_events", &l->max_events));
  SB_RETURN_IF_ERROR(node.Get("max_bytes", &l->max_bytes));
  SB_RETURN_IF_ERROR(node.Get("overflow", &overflow));
  SB_RETURN_IF_ERROR(node.CheckAllKeysKnown());
  if (l->max_events == 0) return node.Error("max_events", "must be at least 1");
  if (l->max_bytes < 4096) {
    return node.Error("max_bytes", "must be at least 4096");
  }
  auto policy = ParseOverflowPolicy(overflow);
  if (!policy.ok()) return node.Error("overflow", policy.status().message());
  l->overflow = *policy;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<BroadcasterConfig> BroadcasterConfig::Parse(
    const ConfigNode& config, const std::string& listen_override) {
  BroadcasterConfig c;
  SB_ASSIGN_OR_RETURN(
      c.listen,
      ListenSettings::Parse(config, "listen", c.listen, listen_override));
  SB_RETURN_IF_ERROR(config.Get("max_event_bytes", &c.max_event_bytes));
  SB_RETURN_IF_ERROR(config.Get("max_batch_events", &c.max_batch_events));
  SB_RETURN_IF_ERROR(config.Get("max_pending_batches", &c.max_pending_batches));
  SB_RETURN_IF_ERROR(config.Get("flush_timeout", &c.flush_timeout));
  SB_RETURN_IF_ERROR(config.Get("max_time_ahead", &c.time_bounds.max_ahead));
  SB_RETURN_IF_ERROR(
      config.Get("max_time_behind", &c.time_bounds.max_behind));
  SB_ASSIGN_OR_RETURN(ConfigNode bridge, config.Child("bridge"));
  SB_ASSIGN_OR_RETURN(ConfigNode buffer, config.Child("buffer"));
  SB_ASSIGN_OR_RETURN(c.routing, Router::ParseSettings(config));
  SB_ASSIGN_OR_RETURN(c.regions, ParseRegionSettings(config));
  SB_RETURN_IF_ERROR(config.CheckAllKeysKnown());
  SB_RETURN_IF_ERROR(ParseBridge(bridge, &c.bridge));
  SB_RETURN_IF_ERROR(ParseBuffer(buffer, &c.buffer));
  if (c.max_event_bytes < 64) {
    return config.Error("max_event_bytes", "must be at least 64");
  }
  if (c.max_batch_events == 0) {
    return config.Error("max_batch_events", "must be at least 1");
  }
  if (c.max_pending_batches == 0) {
    return config.Error("max_pending_batches", "must be at least 1");
  }
  if (c.time_bounds.max_ahead < absl::ZeroDuration()) {
    return config.Error("max_time_ahead", "must not be negative");
  }
  if (c.time_bounds.max_behind <= absl::ZeroDuration()) {
    return config.Error("max_time_behind", "must be positive");
  }
  const std::string& link_prefix = c.routing.link_queue_prefix;
  if (!link_prefix.empty() &&
      (absl::StartsWith(c.regions.queue_prefix, link_prefix) ||
       absl::StartsWith(c.regions.unroutable_queue, link_prefix))) {
    return config.Error("regions",
                        absl::StrCat("queue_prefix and unroutable_queue "
                                     "must not start with links.queue_prefix '",
                                     link_prefix, "'"));
  }
  if (c.max_event_bytes > c.buffer.max_bytes) {
    return config.Error("max_event_bytes",
                        "must not exceed buffer.max_bytes, or no event of "
                        "that size could ever be accepted");
  }
  return c;
}

std::string NewEventId() {
  thread_local absl::BitGen gen;
  uint64_t hi = absl::Uniform<uint64_t>(gen);
  uint64_t lo = absl::Uniform<uint64_t>(gen);
  hi = (hi & ~uint64_t{0xF000}) | 0x4000;                      // version 4
  lo = (lo & ~(uint64_t{0xC} << 60)) | (uint64_t{0x8} << 60);  // variant 1
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", hi >> 32,
                         (hi >> 16) & 0xFFFF, hi & 0xFFFF, lo >> 48,
                         lo & 0xFFFFFFFFFFFFULL);
}

absl::StatusOr<std::unique_ptr<BroadcasterService>> BroadcasterService::Create(
    const ConfigNode& config, const std::string& listen_override) {
  SB_ASSIGN_OR_RETURN(BroadcasterConfig parsed,
                      BroadcasterConfig::Parse(config, listen_override));
  return std::make_unique<BroadcasterService>(std::move(parsed),
                                              listen_override);
}

Forwarder::Options BroadcasterService::ForwarderOptions(
    std::shared_ptr<const Settings> settings) {
  Forwarder::Options options = settings->config.bridge;
  options.static_queues = settings->router.StaticQueues();
  // The snapshot lives as long as a stream that declares with it.
  options.queue_spec = [settings](const std::string& queue) {
    return settings->router.Spec(queue);
  };
  return options;
}

BroadcasterService::BroadcasterService(BroadcasterConfig config,
                                       std::string listen_override)
    : listen_(config.listen),
      listen_override_(std::move(listen_override)),
      settings_(std::make_shared<const Settings>(std::move(config))),
      buffer_(settings_->config.buffer),
      forwarder_(ForwarderOptions(settings_), &buffer_),
      tracker_(settings_->config.regions, absl::Now()),
      regions_service_(&tracker_, [this] {
        absl::ReaderMutexLock lock(&settings_mu_);
        return settings_->config.regions.enabled;
      }) {}

namespace {

void LogSettings(const BroadcasterConfig& c) {
  Logger("broadcaster")
      ->info(
          "forwarding to bridge {} (buffer: {} events, {} bytes, overflow "
          "{}); filters: {}, link queues: {}",
          c.bridge.bridge_address, c.buffer.max_events, c.buffer.max_bytes,
          c.buffer.overflow == OverflowPolicy::kReject ? "reject"
                                                       : "drop_oldest",
          c.routing.types.passes_everything() && c.routing.queue_filters.empty()
              ? "none"
              : "on",
          c.routing.link_queue_prefix.empty()
              ? std::string("off")
              : absl::StrCat(c.routing.link_queue_prefix, "<link id>"));
}

}  // namespace

absl::Status BroadcasterService::Start() {
  forwarder_.Start();
  ticker_ = std::thread([this] { TickLoop(); });
  absl::ReaderMutexLock lock(&settings_mu_);
  LogSettings(settings_->config);
  return absl::OkStatus();
}

void BroadcasterService::Drain() { streams_.CloseAll(); }

BroadcasterService::~BroadcasterService() { StopTicker(); }

void BroadcasterService::StopTicker() {
  if (!ticker_.joinable()) return;
  {
    absl::MutexLock lock(&ticker_mu_);
    ticker_stopping_ = true;
  }
  ticker_.join();
}

void BroadcasterService::Stop() {
  // The tracker's last events go out with the final flush.
  StopTicker();
  absl::Duration flush_timeout;
  {
    absl::ReaderMutexLock lock(&settings_mu_);
    flush_timeout = settings_->config.flush_timeout;
  }
  forwarder_.Stop(flush_timeout);
}

absl::Status BroadcasterService::Reload(const ConfigNode& config) {
  SB_ASSIGN_OR_RETURN(BroadcasterConfig parsed,
                      BroadcasterConfig::Parse(config, listen_override_));
  if (parsed.listen != listen_) {
    Logger("broadcaster")
        ->warn("listen changed to {}: that takes a restart; still on {}",
               parsed.listen.ToString(), listen_.ToString());
  }
  auto next = std::make_shared<const Settings>(std::move(parsed));
  {
    // Waits for batches being handled under the old settings; batches
    // after this point see only the new ones.
    absl::WriterMutexLock lock(&settings_mu_);
    settings_ = next;
    buffer_.SetLimits(next->config.buffer);
    tracker_.UpdateSettings(next->config.regions, absl::Now());
  }
  ++generation_;
  LogSettings(next->config);
  // Events accepted before the swap may still be in the buffer: they are
  // routed already and go out on the new stream unchanged.
  forwarder_.Reconfigure(ForwarderOptions(next));
  return absl::OkStatus();
}

size_t BroadcasterService::PushInOrder(uint64_t ticket,
                                       std::vector<RoutedEvent>& routed) {
  absl::MutexLock lock(&push_mu_);
  auto turn = [this, ticket]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(push_mu_) {
    return serving_ticket_ == ticket;
  };
  push_mu_.Await(absl::Condition(&turn));
  const size_t pushed = buffer_.Push(routed);
  ++serving_ticket_;
  return pushed;
}

uint64_t BroadcasterService::AssignSequences(std::vector<Event*>& events) {
  absl::MutexLock lock(&sequence_mu_);
  for (Event* e : events) {
    uint64_t& last = sequences_[e->source()];
    if (e->sequence() == 0) {
      e->set_sequence(++last);
    } else if (e->sequence() > last) {
      last = e->sequence();
    }
  }
  return next_ticket_++;
}

namespace {

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
  Logger("regions")->error(
      "not sending the tracker's {} event {}: {}", r.type(), r.id(),
      TooBig(r.event().size(), config));
  return false;
}

}  // namespace

uint64_t BroadcasterService::Number(std::vector<Unit>& units) {
  std::vector<Event*> own;
  absl::flat_hash_set<const Event*> listed;
  for (Unit& u : units) {
    if (u.parent != nullptr) continue;
    if (u.event->id().empty()) u.event->set_id(NewEventId());
    own.push_back(u.event);
    listed.insert(u.event);
  }
  // A command with scoped copies only (no queue of its own) is numbered
  // too, for its copies to share.
  for (Unit& u : units) {
    if (u.parent != nullptr && listed.insert(u.parent).second) {
      own.push_back(u.parent);
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

PublishResponse BroadcasterService::Accept(PublishRequest& request) {
  // One settings snapshot for the whole batch; see the class comment.
  absl::ReaderMutexLock settings_lock(&settings_mu_);
  const BroadcasterConfig& config = settings_->config;
  const Router& router = settings_->router;
  const bool regions = config.regions.enabled;

  PublishResponse response;
  response.set_batch_id(request.batch_id());
  const int n = request.events_size();
  auto reject = [&response](int index, absl::StatusCode code,
                            absl::string_view reason) {
    auto* r = response.add_rejections();
    r->set_index(index);
    r->set_code(static_cast<int32_t>(code));
    r->set_reason(std::string(reason));
  };
  if (static_cast<uint64_t>(n) > config.max_batch_events) {
    std::string reason =
        absl::StrCat("the batch has ", n, " events; the limit is ",
                     config.max_batch_events, " (max_batch_events)");
    for (int i = 0; i < n; ++i) {
      reject(i, absl::StatusCode::kInvalidArgument, reason);
      response.add_event_ids();
    }
    rejected_invalid_ += n;
    return response;
  }

  const absl::Time now = absl::Now();
  // Per event: -1 invalid, 0 refused (buffer full), 1 accepted, 2 accepted
  // and filtered out (no queue), 3 accepted and absorbed or dropped by the
  // region tracker, 4 a command kept in the unroutable queue (an error for
  // its publisher).
  std::vector<int> outcome(n, -1);
  std::vector<std::string> invalid_reason(n);
  std::vector<absl::Status> unroutable(n);
  // The tracker's events and scoped command copies live here.
  std::deque<Event> owned;
  std::vector<Unit> units;
  bool tracker_order_held = false;
  auto hold_tracker_order = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (!tracker_order_held) tracker_order_mu_.Lock();
    tracker_order_held = true;
  };
  for (int i = 0; i < n; ++i) {
    Event* e = request.mutable_events(i);
    absl::Status s = ValidateEvent(*e, config.time_bounds, now);
    if (s.ok() && regions) s = ValidateRegionEvent(*e, config.regions);
    absl::StatusOr<std::vector<std::string>> queues;
    if (s.ok()) {
      queues = router.Route(e);
      s = queues.status();
    }
    if (!s.ok()) {
      invalid_reason[i] = std::string(s.message());
      continue;
    }
    // Before the tracker sees it: scoped copies share the id and time.
    if (e->id().empty()) e->set_id(NewEventId());
    if (!e->has_time()) SetTime(e, now);
    outcome[i] = 1;
    if (regions && !EventRegion(*e).empty()) {
      hold_tracker_order();
      RegionTracker::Output out = tracker_.OnRegionEvent(e, now);
      AddTrackerOutput(out, router, i, owned, units);
      if (!out.forward) {
        outcome[i] = 3;
        if (out.dropped) ++region_events_dropped_;
        if (out.absorbed) ++switch_events_absorbed_;
        continue;
      }
    }
    std::vector<std::pair<std::string, Event>> scoped;
    if (regions && e->has_command() &&
        router.settings().types.Passes(e->type())) {
      // Its scoped copies are buffered without the size check below, so
      // it is checked here with room for the sequence it gets later.
      if (const size_t size = e->ByteSizeLong();
          size + kMaxSequenceBytes > config.max_event_bytes) {
        invalid_reason[i] = TooBig(size + kMaxSequenceBytes, config);
        outcome[i] = -1;
        continue;
      }
      hold_tracker_order();
      RegionTracker::CommandRoute route = tracker_.RouteCommand(*e, now);
      for (std::string& q : route.queues) queues->push_back(std::move(q));
      scoped = std::move(route.scoped);
      if (!route.error.ok()) {
        outcome[i] = 4;
        unroutable[i] = std::move(route.error);
      }
    }
    if (queues->empty() && scoped.empty()) {
      outcome[i] = 2;
      continue;
    }
    if (!queues->empty()) units.push_back(Unit{e, *std::move(queues), i});
    for (auto& [queue, copy] : scoped) {
      units.push_back(
          Unit{&owned.emplace_back(std::move(copy)), {queue}, i, e});
    }
  }
  const uint64_t ticket = Number(units);
  if (tracker_order_held) tracker_order_mu_.Unlock();

  std::vector<RoutedEvent> routed;
  // Per event, the position after its last routed unit: it is accepted
  // when the buffer took everything before that.
  std::vector<size_t> routed_end(n, 0);
  routed.reserve(units.size());
  for (Unit& u : units) {
    RoutedEvent r = ToRouted(*u.event, std::move(u.queues));
    // The size limit is checked on the bytes themselves (assigned fields
    // included): one serialization per event, no separate size pass.
    // (Commands split in scoped copies were checked before.)
    const bool own = u.owner >= 0 && u.event == request.mutable_events(u.owner);
    if (own && r.event().size() > config.max_event_bytes) {
      invalid_reason[u.owner] = TooBig(r.event().size(), config);
      outcome[u.owner] = -1;
      continue;
    }
    if (u.parent == nullptr && !own && !VirtualEventFits(r, config)) continue;
    routed.push_back(std::move(r));
    if (u.owner >= 0) routed_end[u.owner] = routed.size();
  }
  const size_t pushed = PushInOrder(ticket, routed);
  for (int i = 0; i < n; ++i) {
    if (outcome[i] >= 1 && routed_end[i] > pushed) outcome[i] = 0;
  }
  const EventBuffer::Stats stats = buffer_.stats();
  uint64_t accepted = 0, filtered = 0, links = 0, invalid = 0, full = 0;
  uint64_t commands = 0, unroutables = 0;
  // Answer in request order.
  for (int i = 0; i < n; ++i) {
    const Event& e = request.events(i);
    if (outcome[i] == 4) {
      response.add_event_ids(e.id());
      ++unroutables;
      reject(i, unroutable[i].code(),
             absl::StrCat("events[", i, "]: ", unroutable[i].message()));
      continue;
    }
    if (outcome[i] >= 1) {
      response.add_event_ids(e.id());
      ++accepted;
      if (outcome[i] == 2) {
        ++filtered;
      } else if (e.attributes().contains(std::string(kLinkIdAttribute))) {
        ++links;
      } else if (regions && e.has_command() && outcome[i] == 1) {
        ++commands;
      }
      continue;
    }
    response.add_event_ids();
    if (outcome[i] == -1) {
      ++invalid;
      reject(i, absl::StatusCode::kInvalidArgument,
             absl::StrCat("events[", i, "]: ", invalid_reason[i]));
    } else {
      ++full;
      reject(i, absl::StatusCode::kResourceExhausted,
             absl::StrCat("events[", i, "]: the buffer is full (", stats.events,
                          " events, ", stats.bytes,
                          " bytes) because the bridge is slow or down; "
                          "retry later"));
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
  if (full > 0 || stats.dropped > 0) ReportLosses(stats);
  return response;
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
  const size_t pushed = PushInOrder(ticket, routed);
  if (pushed < routed.size()) {
    Logger("regions")->warn(
        "buffer full: {} of {} region requests and switch events lost",
        routed.size() - pushed, routed.size());
  }
}

void BroadcasterService::TickLoop() {
  absl::MutexLock lock(&ticker_mu_);
  while (true) {
    absl::Duration period;
    {
      absl::ReaderMutexLock settings_lock(&settings_mu_);
      period = std::clamp(settings_->config.regions.alive_interval / 4,
                          absl::Milliseconds(10), absl::Milliseconds(500));
    }
    ticker_mu_.AwaitWithTimeout(absl::Condition(&ticker_stopping_), period);
    if (ticker_stopping_) return;
    ticker_mu_.Unlock();
    Tick();
    ticker_mu_.Lock();
  }
}

void BroadcasterService::ReportLosses(const EventBuffer::Stats& stats) {
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&report_mu_);
  const uint64_t rejected = rejected_full_.load();
  if (now - last_report_ < absl::Seconds(5) ||
      (stats.dropped == reported_dropped_ && rejected == reported_rejected_)) {
    return;
  }
  Logger("broadcaster")
      ->warn(
          "buffer full ({} events, {} bytes; bridge {}): {} events dropped "
          "and {} refused since the last report ({} and {} in all; see "
          "GetStats)",
          stats.events, stats.bytes,
          forwarder_.stats().connected ? "slow" : "down",
          stats.dropped - reported_dropped_, rejected - reported_rejected_,
          stats.dropped, rejected);
  last_report_ = now;
  reported_dropped_ = stats.dropped;
  reported_rejected_ = rejected;
}

namespace {

class PublishStream final : public BidiStream<PublishRequest, PublishResponse> {
 public:
  PublishStream(BroadcasterService* service, StreamSet* streams,
                size_t max_pending)
      : BidiStream(streams, max_pending), service_(service) {
    StartStream();
  }

 private:
  void OnRequest(PublishRequest& request) override {
    writer()->Send(service_->Accept(request));
  }

  BroadcasterService* const service_;
};

}  // namespace

grpc::ServerBidiReactor<PublishRequest, PublishResponse>*
BroadcasterService::Publish(grpc::CallbackServerContext* context) {
  uint32_t max_pending;
  {
    absl::ReaderMutexLock lock(&settings_mu_);
    max_pending = settings_->config.max_pending_batches;
  }
  return new PublishStream(this, &streams_, max_pending);
}

switchboard::v1::BroadcasterStats BroadcasterService::Stats() const {
  switchboard::v1::BroadcasterStats out;
  EventBuffer::Stats buffer = buffer_.stats();
  Forwarder::Stats forwarder = forwarder_.stats();
  out.set_accepted(accepted_.load());
  out.set_rejected_invalid(rejected_invalid_.load());
  out.set_rejected_full(rejected_full_.load());
  out.set_dropped(buffer.dropped);
  out.set_forwarded(forwarder.forwarded);
  out.set_buffered(buffer.events);
  out.set_buffered_bytes(buffer.bytes);
  out.set_bridge_connected(forwarder.connected);
  out.set_bridge_connects(forwarder.connects);
  out.set_filtered(filtered_.load());
  out.set_link_events(link_events_.load());
  out.set_settings_generation(generation_.load());
  out.set_region_events_dropped(region_events_dropped_.load());
  out.set_switch_events_absorbed(switch_events_absorbed_.load());
  out.set_commands_routed(commands_routed_.load());
  out.set_commands_unroutable(commands_unroutable_.load());
  out.set_switch_events_emitted(switch_events_emitted_.load());
  out.set_region_requests(region_requests_.load());
  out.set_queue_refused(forwarder.refused);
  return out;
}

grpc::ServerUnaryReactor* BroadcasterService::GetStats(
    grpc::CallbackServerContext* context,
    const switchboard::v1::GetStatsRequest* request,
    switchboard::v1::BroadcasterStats* response) {
  *response = Stats();
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace switchboard::broadcaster
