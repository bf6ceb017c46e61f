#include "services/broadcaster/broadcaster_service.h"

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/common/link_event.h"
#include "services/common/logging.h"
#include "services/common/status.h"

namespace switchboard::broadcaster {
namespace {

using switchboard::v1::Event;
using switchboard::v1::PublishRequest;
using switchboard::v1::PublishResponse;
using switchboard::v1::RoutedEvent;

constexpr size_t kMaxSourceLength = 150;
constexpr size_t kMaxTypeLength = 256;

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
  SB_RETURN_IF_ERROR(config.Get("listen", &c.listen));
  SB_RETURN_IF_ERROR(config.Get("max_event_bytes", &c.max_event_bytes));
  SB_RETURN_IF_ERROR(config.Get("max_batch_events", &c.max_batch_events));
  SB_RETURN_IF_ERROR(config.Get("max_pending_batches", &c.max_pending_batches));
  SB_RETURN_IF_ERROR(config.Get("flush_timeout", &c.flush_timeout));
  SB_ASSIGN_OR_RETURN(ConfigNode bridge, config.Child("bridge"));
  SB_ASSIGN_OR_RETURN(ConfigNode buffer, config.Child("buffer"));
  SB_ASSIGN_OR_RETURN(c.routing, Router::ParseSettings(config));
  SB_RETURN_IF_ERROR(config.CheckAllKeysKnown());
  SB_RETURN_IF_ERROR(ParseBridge(bridge, &c.bridge));
  SB_RETURN_IF_ERROR(ParseBuffer(buffer, &c.buffer));
  if (!listen_override.empty()) c.listen = listen_override;
  if (c.listen.empty()) return config.Error("listen", "must be set");
  if (c.max_event_bytes < 64) {
    return config.Error("max_event_bytes", "must be at least 64");
  }
  if (c.max_batch_events == 0) {
    return config.Error("max_batch_events", "must be at least 1");
  }
  if (c.max_pending_batches == 0) {
    return config.Error("max_pending_batches", "must be at least 1");
  }
  if (c.max_event_bytes > c.buffer.max_bytes) {
    return config.Error("max_event_bytes",
                        "must not exceed buffer.max_bytes, or no event of "
                        "that size could ever be accepted");
  }
  return c;
}

absl::Status ValidateEvent(const Event& event) {
  if (event.source().empty()) {
    return absl::InvalidArgumentError(
        "source is empty: name the producing app, e.g. 'kytos/topology'");
  }
  if (event.source().size() > kMaxSourceLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("source is ", event.source().size(),
                     " characters; the limit is ", kMaxSourceLength));
  }
  if (event.type().empty()) {
    return absl::InvalidArgumentError(
        "type is empty: name the event, e.g. 'kytos/topology.link_down'");
  }
  if (event.type().size() > kMaxTypeLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("type is ", event.type().size(),
                     " characters; the limit is ", kMaxTypeLength));
  }
  if (event.has_link_status()) {
    if (event.link_status().link_id().empty()) {
      return absl::InvalidArgumentError("link_status.link_id is empty");
    }
    if (event.link_status().state() ==
        switchboard::v1::LinkStatus::STATE_UNSPECIFIED) {
      return absl::InvalidArgumentError(
          "link_status.state is unset: UP or DOWN");
    }
  }
  return absl::OkStatus();
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
      forwarder_(ForwarderOptions(settings_), &buffer_) {}

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
  absl::ReaderMutexLock lock(&settings_mu_);
  LogSettings(settings_->config);
  return absl::OkStatus();
}

void BroadcasterService::Drain() { streams_.CloseAll(); }

void BroadcasterService::Stop() {
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
               parsed.listen, listen_);
  }
  auto next = std::make_shared<const Settings>(std::move(parsed));
  {
    // Waits for batches being handled under the old settings; batches
    // after this point see only the new ones.
    absl::WriterMutexLock lock(&settings_mu_);
    settings_ = next;
    buffer_.SetLimits(next->config.buffer);
  }
  ++generation_;
  LogSettings(next->config);
  // Events accepted before the swap may still be in the buffer: they are
  // routed already and go out on the new stream unchanged.
  forwarder_.Reconfigure(ForwarderOptions(next));
  return absl::OkStatus();
}

void BroadcasterService::AssignSequences(std::vector<Event*>& events) {
  absl::MutexLock lock(&sequence_mu_);
  for (Event* e : events) {
    uint64_t& last = sequences_[e->source()];
    if (e->sequence() == 0) {
      e->set_sequence(++last);
    } else if (e->sequence() > last) {
      last = e->sequence();
    }
  }
}

PublishResponse BroadcasterService::Accept(PublishRequest& request) {
  // One settings snapshot for the whole batch; see the class comment.
  absl::ReaderMutexLock settings_lock(&settings_mu_);
  const BroadcasterConfig& config = settings_->config;
  const Router& router = settings_->router;

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
  // and filtered out (no queue).
  std::vector<int> outcome(n, -1);
  std::vector<std::string> invalid_reason(n);
  std::vector<Event*> valid;
  std::vector<int> valid_index;
  std::vector<std::vector<std::string>> valid_queues;
  for (int i = 0; i < n; ++i) {
    Event* e = request.mutable_events(i);
    absl::Status s = ValidateEvent(*e);
    absl::StatusOr<std::vector<std::string>> queues;
    if (s.ok()) {
      queues = router.Route(e);
      s = queues.status();
    }
    if (!s.ok()) {
      invalid_reason[i] = std::string(s.message());
      continue;
    }
    if (e->id().empty()) e->set_id(NewEventId());
    if (queues->empty()) {
      outcome[i] = 2;
      continue;
    }
    if (!e->has_time()) {
      const int64_t ns = absl::ToUnixNanos(now);
      e->mutable_time()->set_seconds(ns / 1'000'000'000);
      e->mutable_time()->set_nanos(static_cast<int32_t>(ns % 1'000'000'000));
    }
    valid.push_back(e);
    valid_index.push_back(i);
    valid_queues.push_back(*std::move(queues));
  }
  AssignSequences(valid);

  std::vector<RoutedEvent> routed;
  std::vector<int> routed_index;
  routed.reserve(valid.size());
  for (size_t k = 0; k < valid.size(); ++k) {
    RoutedEvent r;
    // The size limit is checked on the bytes themselves (assigned fields
    // included): one serialization per event, no separate size pass.
    valid[k]->SerializeToString(r.mutable_event());
    if (r.event().size() > config.max_event_bytes) {
      invalid_reason[valid_index[k]] = absl::StrCat(
          "event is ", r.event().size(), " bytes serialized; the limit is ",
          config.max_event_bytes, " (max_event_bytes)");
      continue;
    }
    r.set_id(valid[k]->id());
    r.set_source(valid[k]->source());
    r.set_type(valid[k]->type());
    r.set_time_unix_nanos(valid[k]->time().seconds() * 1'000'000'000 +
                          valid[k]->time().nanos());
    for (std::string& q : valid_queues[k]) r.add_queues(std::move(q));
    routed.push_back(std::move(r));
    routed_index.push_back(valid_index[k]);
  }
  const size_t pushed = buffer_.Push(routed);
  for (size_t k = 0; k < routed.size(); ++k) {
    outcome[routed_index[k]] = k < pushed ? 1 : 0;
  }
  const EventBuffer::Stats stats = buffer_.stats();
  uint64_t accepted = 0, filtered = 0, links = 0, invalid = 0, full = 0;
  // Answer in request order.
  for (int i = 0; i < n; ++i) {
    if (outcome[i] >= 1) {
      response.add_event_ids(request.events(i).id());
      ++accepted;
      if (outcome[i] == 2) {
        ++filtered;
      } else if (request.events(i).attributes().contains(
                     std::string(kLinkIdAttribute))) {
        ++links;
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
  rejected_invalid_ += invalid;
  rejected_full_ += full;
  if (full > 0 || stats.dropped > 0) ReportLosses(stats);
  return response;
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
