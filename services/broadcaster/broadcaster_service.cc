#include "services/broadcaster/broadcaster_service.h"

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
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

Forwarder::Options WithStaticQueues(Forwarder::Options options,
                                    const Router& router) {
  options.static_queues = router.StaticQueues();
  return options;
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
  SB_ASSIGN_OR_RETURN(ConfigNode routing, config.Child("routing"));
  SB_RETURN_IF_ERROR(config.CheckAllKeysKnown());
  SB_RETURN_IF_ERROR(ParseBridge(bridge, &c.bridge));
  SB_RETURN_IF_ERROR(ParseBuffer(buffer, &c.buffer));
  SB_ASSIGN_OR_RETURN(c.routing, Router::ParseSettings(routing));
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
  return std::make_unique<BroadcasterService>(std::move(parsed));
}

BroadcasterService::BroadcasterService(BroadcasterConfig config)
    : config_(std::move(config)),
      router_(config_.routing),
      buffer_(config_.buffer),
      forwarder_(WithStaticQueues(config_.bridge, router_), &buffer_,
                 [](const std::string& queue) {
                   switchboard::v1::QueueSpec spec;
                   spec.set_name(queue);
                   return spec;
                 }) {}

absl::Status BroadcasterService::Start() {
  forwarder_.Start();
  Logger("broadcaster")
      ->info(
          "forwarding to bridge {} (buffer: {} events, {} bytes, "
          "overflow {})",
          config_.bridge.bridge_address, config_.buffer.max_events,
          config_.buffer.max_bytes,
          config_.buffer.overflow == OverflowPolicy::kReject ? "reject"
                                                             : "drop_oldest");
  return absl::OkStatus();
}

void BroadcasterService::Drain() { streams_.CloseAll(); }

void BroadcasterService::Stop() { forwarder_.Stop(config_.flush_timeout); }

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
  if (static_cast<uint64_t>(n) > config_.max_batch_events) {
    std::string reason =
        absl::StrCat("the batch has ", n, " events; the limit is ",
                     config_.max_batch_events, " (max_batch_events)");
    for (int i = 0; i < n; ++i) {
      reject(i, absl::StatusCode::kInvalidArgument, reason);
      response.add_event_ids();
    }
    rejected_invalid_ += n;
    return response;
  }

  const absl::Time now = absl::Now();
  std::vector<Event*> valid;
  std::vector<int> valid_index;
  std::vector<std::string> invalid_reason(n);
  for (int i = 0; i < n; ++i) {
    Event* e = request.mutable_events(i);
    absl::Status s = ValidateEvent(*e);
    if (!s.ok()) {
      invalid_reason[i] = std::string(s.message());
      continue;
    }
    if (e->id().empty()) e->set_id(NewEventId());
    if (!e->has_time()) {
      const int64_t ns = absl::ToUnixNanos(now);
      e->mutable_time()->set_seconds(ns / 1'000'000'000);
      e->mutable_time()->set_nanos(static_cast<int32_t>(ns % 1'000'000'000));
    }
    valid.push_back(e);
    valid_index.push_back(i);
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
    if (r.event().size() > config_.max_event_bytes) {
      invalid_reason[valid_index[k]] = absl::StrCat(
          "event is ", r.event().size(), " bytes serialized; the limit is ",
          config_.max_event_bytes, " (max_event_bytes)");
      continue;
    }
    r.set_id(valid[k]->id());
    r.set_source(valid[k]->source());
    r.set_type(valid[k]->type());
    r.set_time_unix_nanos(valid[k]->time().seconds() * 1'000'000'000 +
                          valid[k]->time().nanos());
    for (std::string& q : router_.Route(*valid[k])) r.add_queues(std::move(q));
    routed.push_back(std::move(r));
    routed_index.push_back(valid_index[k]);
  }
  const size_t accepted = buffer_.Push(routed);

  // Answer in request order.
  std::vector<int> outcome(n, -1);  // -1 invalid, 1 accepted, 0 full
  for (size_t k = 0; k < routed.size(); ++k) {
    outcome[routed_index[k]] = k < accepted ? 1 : 0;
  }
  const EventBuffer::Stats stats = buffer_.stats();
  for (int i = 0; i < n; ++i) {
    if (outcome[i] == 1) {
      response.add_event_ids(request.events(i).id());
      continue;
    }
    response.add_event_ids();
    if (outcome[i] == -1) {
      reject(i, absl::StatusCode::kInvalidArgument,
             absl::StrCat("events[", i, "]: ", invalid_reason[i]));
    } else {
      reject(i, absl::StatusCode::kResourceExhausted,
             absl::StrCat("events[", i, "]: the buffer is full (", stats.events,
                          " events, ", stats.bytes,
                          " bytes) because the bridge is slow or down; "
                          "retry later"));
    }
  }
  response.set_accepted(accepted);
  accepted_ += accepted;
  rejected_invalid_ += n - routed.size();
  rejected_full_ += routed.size() - accepted;
  return response;
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
  return new PublishStream(this, &streams_, config_.max_pending_batches);
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
