#include "services/mq-bridge/bridge_service.h"

#include <algorithm>
#include <limits>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/common/logging.h"
#include "services/common/status_macros.h"
#include "services/common/grpc_status.h"
#include "services/mq-bridge/delivery_encoding.h"
#include "services/mq-bridge/transport/registry.h"

namespace switchboard::bridge {
namespace {

using switchboard::v1::ConsumeRequest;
using switchboard::v1::ProduceRequest;
using switchboard::v1::ProduceResponse;

// Deliveries are bounded by the prefetch window, and reading acks is what
// frees the window: a Consume stream never stops reading.
constexpr size_t kNeverPause = std::numeric_limits<size_t>::max();
constexpr uint32_t kMaxPrefetch = 65535;

QueueOptions FromSpec(const switchboard::v1::QueueSpec& spec) {
  QueueOptions options;
  options.last_value = spec.last_value();
  const switchboard::v1::QueueLimits& l = spec.limits();
  options.limits.max_length = l.max_length();
  options.limits.max_bytes = l.max_bytes();
  options.limits.message_ttl = absl::Milliseconds(l.message_ttl_ms());
  options.limits.expires = absl::Milliseconds(l.expires_ms());
  switch (l.overflow()) {
    case switchboard::v1::QueueLimits::REJECT_PUBLISH:
      options.limits.overflow = OverflowPolicy::kRejectPublish;
      break;
    case switchboard::v1::QueueLimits::DEAD_LETTER:
      options.limits.overflow = OverflowPolicy::kDeadLetter;
      break;
    default:
      options.limits.overflow = OverflowPolicy::kDropHead;
  }
  return options;
}

class ProduceStream final : public BidiStream<ProduceRequest, ProduceResponse> {
 public:
  // `refused`: the stream ends with it at once (the caller may not use
  // the bridge).
  ProduceStream(const BridgeService* service, StreamSet* streams,
                size_t max_pending, absl::Status refused)
      : BidiStream(streams, max_pending), service_(service) {
    if (!refused.ok()) {
      writer()->Finish(ToGrpcStatus(refused));
      return;
    }
    StartStream();
  }

 private:
  void OnRequest(ProduceRequest& request) override {
    const uint64_t batch_id = request.batch_id();
    // Per batch: a reload may have swapped the transport since the last.
    std::shared_ptr<Transport> transport = service_->CurrentTransport();
    absl::flat_hash_map<std::string, absl::Status> unusable;
    if (absl::Status s = Declare(*transport, request, &unusable); !s.ok()) {
      Answer(*writer(), batch_id, s);
      return;
    }
    // Refusals found here, by the request's event index; the transport's
    // are mapped back to it through `index`.
    std::vector<Refusal> refused;
    std::vector<size_t> index;
    std::vector<OutgoingMessage> batch;
    batch.reserve(request.events_size());
    for (int i = 0; i < request.events_size(); ++i) {
      auto& event = *request.mutable_events(i);
      if (event.queues().empty()) {
        refused.push_back(Refusal{
            static_cast<size_t>(i), "",
            absl::InvalidArgumentError(absl::StrCat(
                "events[", i, "] (id '", event.id(), "') names no queue"))});
        continue;
      }
      OutgoingMessage m;
      for (std::string& queue : *event.mutable_queues()) {
        auto bad = unusable.find(queue);
        if (bad != unusable.end()) {
          refused.push_back(
              Refusal{static_cast<size_t>(i), queue, bad->second});
        } else {
          m.queues.push_back(std::move(queue));
        }
      }
      if (m.queues.empty()) continue;
      m.id = std::move(*event.mutable_id());
      m.payload = std::make_shared<const std::string>(
          std::move(*event.mutable_event()));
      m.source = std::move(*event.mutable_source());
      m.type = std::move(*event.mutable_type());
      m.time_unix_nanos = event.time_unix_nanos();
      index.push_back(i);
      batch.push_back(std::move(m));
    }
    const uint64_t events = batch.size();
    const uint64_t refused_here = refused.size();
    std::shared_ptr<ProduceCounters> counters = service_->produce_counters();
    counters->Handed(events);
    transport->Publish(
        std::move(batch),
        [writer = writer(), batch_id, refused = std::move(refused),
         index = std::move(index), counters = std::move(counters), events,
         refused_here, start = absl::Now()](PublishResult result) mutable {
          counters->Published(events, refused_here + result.refused.size(),
                              result.status.ok(), absl::Now() - start);
          for (Refusal& r : result.refused) {
            r.message = index[r.message];
            refused.push_back(std::move(r));
          }
          Answer(*writer, batch_id, result.status, std::move(refused));
          if (!result.status.ok()) {
            // Later batches of this stream must not be stored before this
            // one is: end the stream, so the producer sends this batch and
            // everything after it again, in order, on a new one. (The
            // transports complete batches in order, and never fail one
            // while storing a later one.)
            writer->Finish(grpc::Status(
                grpc::StatusCode::ABORTED,
                absl::StrCat("batch ", batch_id,
                             " failed; nothing after it on this stream was "
                             "published: send again from it on a new stream "
                             "(",
                             result.status.message(), ")")));
          }
        });
  }

  // Declares the batch's queues. A queue that exists with other options is
  // used as it is (logged: the running queue wins; nothing accepted is
  // discarded for it); a queue that cannot be declared at all (invalid
  // name) goes into `unusable`, refusing its events. Any other error
  // (the transport is down) fails the batch, to be sent again.
  static absl::Status Declare(
      Transport& transport, const ProduceRequest& request,
      absl::flat_hash_map<std::string, absl::Status>* unusable) {
    for (const auto& spec : request.declare()) {
      absl::Status s = transport.DeclareQueue(spec.name(), FromSpec(spec));
      if (s.ok()) continue;
      if (absl::IsFailedPrecondition(s)) {
        Logger("bridge")->error(
            "queue {} keeps its running options, events still go to it: {}",
            spec.name(), std::string(s.message()));
        continue;
      }
      if (absl::IsInvalidArgument(s)) {
        Logger("bridge")->error("queue {} cannot be declared: {}", spec.name(),
                                std::string(s.message()));
        unusable->emplace(spec.name(), std::move(s));
        continue;
      }
      return s;
    }
    return absl::OkStatus();
  }

  static void Answer(Writer& writer, uint64_t batch_id,
                     const absl::Status& status,
                     std::vector<Refusal> refused = {}) {
    ProduceResponse response;
    response.set_batch_id(batch_id);
    response.set_code(static_cast<int32_t>(status.code()));
    if (!status.ok()) {
      response.set_message(std::string(status.message()));
      Logger("bridge")->warn("batch {} failed: {}", batch_id,
                             status.ToString());
    } else {
      std::sort(refused.begin(), refused.end(),
                [](const Refusal& a, const Refusal& b) {
                  return a.message < b.message;
                });
      for (Refusal& r : refused) {
        auto* out = response.add_refused();
        out->set_event_index(static_cast<uint32_t>(r.message));
        out->set_queue(std::move(r.queue));
        out->set_code(static_cast<int32_t>(r.status.code()));
        out->set_message(std::string(r.status.message()));
      }
    }
    writer.Send(std::move(response));
  }

  const BridgeService* const service_;
};

// Responses are switchboard.v1.ConsumeResponse written straight from the
// transport's deliveries (delivery_encoding.h).
class ConsumeStream final
    : public BidiStream<ConsumeRequest, grpc::ByteBuffer> {
 public:
  ConsumeStream(const BridgeService* service, StreamSet* streams,
                absl::Status refused)
      : BidiStream(streams, kNeverPause), service_(service) {
    if (!refused.ok()) {
      writer()->Finish(ToGrpcStatus(refused));
      return;
    }
    StartStream();
  }

 private:
  void OnRequest(ConsumeRequest& request) override {
    absl::Status status;
    switch (request.request_case()) {
      case ConsumeRequest::kOpen:
        status = Open(request.open());
        break;
      case ConsumeRequest::kAck:
        status = Opened();
        if (status.ok()) {
          status = subscription_->Ack(
              {request.ack().tags().data(),
               static_cast<size_t>(request.ack().tags_size())});
        }
        break;
      case ConsumeRequest::kNack:
        status = Opened();
        if (status.ok()) {
          status = subscription_->Nack(
              {request.nack().tags().data(),
               static_cast<size_t>(request.nack().tags_size())},
              request.nack().requeue());
        }
        break;
      default:
        status = absl::InvalidArgumentError(
            "empty request: set one of open, ack or nack");
    }
    if (!status.ok()) writer()->Finish(ToGrpcStatus(status));
  }

  absl::Status Opened() const {
    if (subscription_ == nullptr) {
      return absl::FailedPreconditionError(
          "the first message of a Consume stream must be 'open'");
    }
    return absl::OkStatus();
  }

  absl::Status Open(const switchboard::v1::ConsumeOpen& open) {
    if (subscription_ != nullptr) {
      return absl::FailedPreconditionError("'open' was already sent");
    }
    if (open.prefetch() == 0 || open.prefetch() > kMaxPrefetch) {
      return absl::InvalidArgumentError(absl::StrCat(
          "prefetch must be 1 to ", kMaxPrefetch, ", got ", open.prefetch()));
    }
    SubscribeOptions options;
    options.queues.assign(open.queues().begin(), open.queues().end());
    options.prefetch = open.prefetch();
    // The subscription belongs to the transport of the moment; a reload
    // ends this stream before that transport goes away.
    transport_ = service_->CurrentTransport();
    auto subscription = transport_->Subscribe(
        options, [writer = writer()](std::vector<Delivery> batch) {
          writer->Send(EncodeConsumeResponse(batch));
        });
    if (!subscription.ok()) return subscription.status();
    subscription_ = *std::move(subscription);
    Logger("bridge")->debug("consuming {} (prefetch {})",
                            absl::StrJoin(options.queues, ","),
                            options.prefetch);
    return absl::OkStatus();
  }

  void OnStreamEnded() override {
    // Returns the unacked deliveries to their queues.
    subscription_.reset();
    transport_.reset();
  }

  const BridgeService* const service_;
  std::shared_ptr<Transport> transport_;
  std::unique_ptr<Subscription> subscription_;
};

}  // namespace

namespace {

struct ParsedConfig {
  BridgeConfig config;
  ConfigNode driver_settings;
};

absl::StatusOr<ParsedConfig> ParseConfig(const ConfigNode& config,
                                         const std::string& listen_override) {
  ParsedConfig out;
  BridgeConfig& parsed = out.config;
  SB_RETURN_IF_ERROR(config.Get("listen", &parsed.listen));
  SB_RETURN_IF_ERROR(
      config.Get("max_pending_batches", &parsed.max_pending_batches));
  SB_ASSIGN_OR_RETURN(ConfigNode transport, config.Child("transport"));
  SB_ASSIGN_OR_RETURN(ConfigNode health, config.Child("health"));
  SB_RETURN_IF_ERROR(config.CheckAllKeysKnown());
  SB_RETURN_IF_ERROR(
      health.Get("transport_timeout", &parsed.transport_timeout));
  SB_RETURN_IF_ERROR(health.CheckAllKeysKnown());
  if (parsed.transport_timeout < absl::Milliseconds(100)) {
    return health.Error("transport_timeout", "must be at least 100ms");
  }
  SB_RETURN_IF_ERROR(transport.Get("driver", &parsed.driver));
  if (!listen_override.empty()) parsed.listen = listen_override;
  if (parsed.listen.empty()) return config.Error("listen", "must be set");
  if (parsed.max_pending_batches == 0) {
    return config.Error("max_pending_batches", "must be at least 1");
  }
  // Every registered driver may keep a settings section; only the chosen
  // one's is read.
  for (const std::string& name : TransportRegistry::Global().Names()) {
    SB_ASSIGN_OR_RETURN(ConfigNode section, transport.Child(name));
    if (name == parsed.driver) out.driver_settings = section;
  }
  SB_RETURN_IF_ERROR(transport.CheckAllKeysKnown());
  const std::vector<std::string> known = TransportRegistry::Global().Names();
  if (std::find(known.begin(), known.end(), parsed.driver) == known.end()) {
    // Keep the registry's NotFound, with the field named.
    auto missing = TransportRegistry::Global().Create(parsed.driver, {});
    return absl::NotFoundError(
        transport.Error("driver", missing.status().message()).message());
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<BridgeService>> BridgeService::Create(
    const ConfigNode& config, const std::string& listen_override) {
  SB_ASSIGN_OR_RETURN(ParsedConfig parsed,
                      ParseConfig(config, listen_override));
  SB_ASSIGN_OR_RETURN(std::unique_ptr<Transport> transport,
                      TransportRegistry::Global().Create(
                          parsed.config.driver, parsed.driver_settings));
  Logger("bridge")->info("transport driver: {}", parsed.config.driver);
  return std::make_unique<BridgeService>(parsed.config, std::move(transport));
}

absl::Status BridgeService::CheckConfig(const ConfigNode& config,
                                        const std::string& listen_override) {
  SB_ASSIGN_OR_RETURN(ParsedConfig parsed,
                      ParseConfig(config, listen_override));
  return TransportRegistry::Global().CheckSettings(parsed.config.driver,
                                                   parsed.driver_settings);
}

ServerLimits BridgeService::DefaultLimits() {
  ServerLimits limits;
  limits.max_concurrent_streams = 10000;
  return limits;
}

BridgeService::BridgeService(BridgeConfig config,
                             std::unique_ptr<Transport> transport)
    : config_(std::move(config)),
      transport_health_(
          std::make_shared<TransportHealth>(config_.transport_timeout)),
      transport_(std::make_shared<MonitoredTransport>(std::move(transport),
                                                      transport_health_)) {
  // Consume answers with ConsumeResponse bytes it writes itself
  // (EncodeConsumeResponse): the same method (index 1 of the Bridge
  // service, as generated from bridge.proto), registered with a raw
  // response type. Reflection still describes the public types.
  MarkMethodCallback(
      kConsumeMethodIndex,
      new grpc::internal::CallbackBidiHandler<ConsumeRequest, grpc::ByteBuffer>(
          [this](grpc::CallbackServerContext* context) {
            return OpenConsume(context);
          }));
}

BridgeService::~BridgeService() { transport_health_->StopWatching(); }

void BridgeService::SetHealthReporter(std::shared_ptr<HealthReporter> health) {
  absl::MutexLock lock(&reporter_mu_);
  reporter_ = std::move(health);
}

absl::Status BridgeService::Start() {
  transport_health_->StartWatching([this](bool healthy) {
    auto log = Logger("bridge");
    // A recovery is SERVING after NOT_SERVING (the first report, and a
    // reload's fresh start, are not).
    if (healthy && transport_was_down_.exchange(false)) {
      ++transport_recoveries_;
    } else if (!healthy) {
      transport_was_down_ = true;
    }
    if (healthy) {
      log->info("the transport answers: {} is SERVING",
                switchboard::v1::Bridge::service_full_name());
    } else {
      log->warn(
          "the transport does not answer (a call failed UNAVAILABLE or has "
          "waited over {}): {} is NOT_SERVING",
          absl::FormatDuration(config_.transport_timeout),
          switchboard::v1::Bridge::service_full_name());
    }
    absl::MutexLock lock(&reporter_mu_);
    if (reporter_ != nullptr) {
      reporter_->SetServing(switchboard::v1::Bridge::service_full_name(),
                            healthy);
    }
  });
  return absl::OkStatus();
}

void BridgeService::Stop() { transport_health_->StopWatching(); }

std::vector<std::shared_ptr<prometheus::Collectable>>
BridgeService::metrics_collectables(const MetricsSettings& settings) {
  if (metrics_ == nullptr) {
    BridgeMetrics::Sources sources;
    sources.produce = produce_counters_;
    sources.transport = [this] { return CurrentTransport(); };
    sources.transport_up = [health = transport_health_] {
      return health->Healthy(absl::Now());
    };
    sources.transport_recoveries = [this]() -> uint64_t {
      return transport_recoveries_.load();
    };
    metrics_ = std::make_shared<BridgeMetrics>(std::move(sources),
                                               settings.max_label_values);
  }
  return {metrics_};
}

std::shared_ptr<Transport> BridgeService::CurrentTransport() const {
  absl::MutexLock lock(&transport_mu_);
  return transport_;
}

void BridgeService::Drain() {
  produce_streams_.CloseAll();
  consume_streams_.CloseAll();
}

absl::Status BridgeService::Reload(const ConfigNode& config) {
  auto log = Logger("bridge");
  SB_ASSIGN_OR_RETURN(ParsedConfig parsed, ParseConfig(config, config_.listen));
  {
    std::shared_ptr<Transport> running = CurrentTransport();
    if (!running->capabilities().replaceable) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the ", running->driver(),
          " transport keeps its queues in this process; replacing it would "
          "lose them: restart the bridge instead"));
    }
  }
  // Connect first: a bad setting leaves everything as it was.
  SB_ASSIGN_OR_RETURN(std::unique_ptr<Transport> created,
                      TransportRegistry::Global().Create(
                          parsed.config.driver, parsed.driver_settings));
  std::shared_ptr<Transport> fresh = std::make_shared<MonitoredTransport>(
      std::move(created), transport_health_);
  // Subscriptions live on the old transport: end them; apps subscribe
  // again and the broker requeues what they held.
  consume_streams_.FinishAll(
      grpc::Status(grpc::StatusCode::UNAVAILABLE,
                   "the bridge reloaded its settings; subscribe again"));
  std::shared_ptr<Transport> old;
  {
    // Held while the old transport finishes: no batch reaches either
    // transport meanwhile, so per-source order holds across the swap.
    absl::MutexLock lock(&transport_mu_);
    old = std::move(transport_);
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (old.use_count() > 1 && absl::Now() < deadline) {
      // Streams that took it just before the swap are handing it a batch,
      // and ended Consume streams are releasing their subscriptions; none
      // of that needs this lock.
      absl::SleepFor(absl::Milliseconds(5));
    }
    if (old.use_count() > 1) {
      log->warn(
          "old transport still in use after 10s; it closes when "
          "released");
    }
    // Waits for its unconfirmed batches, then closes its sessions.
    old.reset();
    transport_ = std::move(fresh);
    // It just connected; what the old one said no longer counts.
    transport_health_->Reset();
  }
  log->info("transport reloaded: driver {}", parsed.config.driver);
  return absl::OkStatus();
}

grpc::ServerBidiReactor<ProduceRequest, ProduceResponse>*
BridgeService::Produce(grpc::CallbackServerContext* context) {
  return new ProduceStream(this, &produce_streams_, config_.max_pending_batches,
                           CheckAccess(auth_.get(), *context, Action::kBridge));
}

grpc::ServerBidiReactor<ConsumeRequest, grpc::ByteBuffer>*
BridgeService::OpenConsume(grpc::CallbackServerContext* context) {
  return new ConsumeStream(this, &consume_streams_,
                           CheckAccess(auth_.get(), *context, Action::kBridge));
}

grpc::ServerUnaryReactor* BridgeService::GetQueueStats(
    grpc::CallbackServerContext* context,
    const switchboard::v1::GetQueueStatsRequest* request,
    switchboard::v1::GetQueueStatsResponse* response) {
  if (absl::Status s = CheckAccess(auth_.get(), *context, Action::kBridge);
      !s.ok()) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  std::vector<std::string> names(request->queues().begin(),
                                 request->queues().end());
  auto stats = CurrentTransport()->GetQueueStats(names);
  if (stats.ok()) {
    for (const QueueStats& s : *stats) {
      auto* out = response->add_queues();
      out->set_name(s.name);
      out->set_depth(s.depth);
      out->set_unacked(s.unacked);
      out->set_consumers(s.consumers);
      out->set_last_value(s.last_value);
      out->set_dropped(s.dropped);
      out->set_rejected(s.rejected);
      out->set_expired(s.expired);
      out->set_dead_lettered(s.dead_lettered);
    }
  }
  auto* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(stats.status()));
  return reactor;
}

grpc::ServerUnaryReactor* BridgeService::GetTransportInfo(
    grpc::CallbackServerContext* context,
    const switchboard::v1::GetTransportInfoRequest* request,
    switchboard::v1::TransportInfo* response) {
  if (absl::Status s = CheckAccess(auth_.get(), *context, Action::kBridge);
      !s.ok()) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  std::shared_ptr<Transport> transport = CurrentTransport();
  Capabilities caps = transport->capabilities();
  response->set_driver(std::string(transport->driver()));
  response->set_durable(caps.durable);
  response->set_acks(caps.acks);
  response->set_last_value(caps.last_value);
  response->set_ordered_requeue(caps.ordered_requeue);
  response->set_confirmed_delivery(caps.confirmed_delivery);
  response->set_queue_limits(caps.queue_limits);
  response->set_drop_counters(caps.drop_counters);
  response->set_connected_to(transport->connected_to());
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace switchboard::bridge
