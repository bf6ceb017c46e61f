#include "services/broadcaster/broadcaster_service.h"

#include <deque>
#include <optional>

#include "absl/container/flat_hash_set.h"
#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/broadcaster/event_validation.h"
#include "services/common/link_event.h"
#include "services/common/logging.h"
#include "services/common/status_macros.h"
#include "services/common/grpc_status.h"

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
  SB_ASSIGN_OR_RETURN(o->bridge_credentials, ParseBridgeCredentials(node));
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

absl::Status ParseDiskBuffer(const ConfigNode& node, DiskLog::Options* d) {
  std::string fsync = "batch";
  SB_RETURN_IF_ERROR(node.Get("path", &d->path));
  SB_RETURN_IF_ERROR(node.Get("segment_bytes", &d->segment_bytes));
  SB_RETURN_IF_ERROR(node.Get("fsync", &fsync));
  SB_RETURN_IF_ERROR(node.Get("fsync_interval", &d->fsync_interval));
  SB_RETURN_IF_ERROR(node.CheckAllKeysKnown());
  if (d->path.empty()) {
    return node.Error("path", "must be set with buffer.type disk");
  }
  if (d->segment_bytes < 4096) {
    return node.Error("segment_bytes", "must be at least 4096");
  }
  auto policy = ParseFsyncPolicy(fsync);
  if (!policy.ok()) return node.Error("fsync", policy.status().message());
  d->fsync = *policy;
  if (d->fsync_interval <= absl::ZeroDuration()) {
    return node.Error("fsync_interval", "must be more than 0");
  }
  d->cost = &EventBuffer::Cost;
  return absl::OkStatus();
}

absl::Status ParseBuffer(const ConfigNode& node, EventBuffer::Limits* l,
                         std::optional<DiskLog::Options>* disk) {
  std::string overflow = "reject";
  std::string type = "memory";
  SB_RETURN_IF_ERROR(node.Get("type", &type));
  SB_RETURN_IF_ERROR(node.Get("max_events", &l->max_events));
  SB_RETURN_IF_ERROR(node.Get("max_bytes", &l->max_bytes));
  SB_RETURN_IF_ERROR(node.Get("overflow", &overflow));
  SB_ASSIGN_OR_RETURN(ConfigNode disk_node, node.Child("disk"));
  SB_RETURN_IF_ERROR(node.CheckAllKeysKnown());
  if (type == "disk") {
    DiskLog::Options options;
    SB_RETURN_IF_ERROR(ParseDiskBuffer(disk_node, &options));
    *disk = std::move(options);
  } else if (type != "memory") {
    return node.Error("type", absl::StrCat("unknown buffer type '", type,
                                           "' (known: memory, disk)"));
  } else if (node.Has("disk")) {
    return node.Error("disk", "is read only with type: disk");
  }
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
  SB_RETURN_IF_ERROR(config.Get("max_time_behind", &c.time_bounds.max_behind));
  SB_ASSIGN_OR_RETURN(ConfigNode bridge, config.Child("bridge"));
  SB_ASSIGN_OR_RETURN(ConfigNode buffer, config.Child("buffer"));
  SB_ASSIGN_OR_RETURN(c.routing, Router::ParseSettings(config));
  SB_ASSIGN_OR_RETURN(c.regions, ParseRegionSettings(config));
  SB_RETURN_IF_ERROR(config.CheckAllKeysKnown());
  SB_RETURN_IF_ERROR(ParseBridge(bridge, &c.bridge));
  SB_RETURN_IF_ERROR(ParseBuffer(buffer, &c.buffer, &c.disk_buffer));
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
  // "%08x-%04x-%04x-%04x-%012x" of hi and lo, without a format parse
  // per event.
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(36, '-');
  int at = 0;
  for (int nibble = 15; nibble >= 0; --nibble) {
    if (at == 8 || at == 13) ++at;
    id[at++] = kHex[(hi >> (4 * nibble)) & 0xF];
  }
  for (int nibble = 15; nibble >= 0; --nibble) {
    if (at == 18 || at == 23) ++at;
    id[at++] = kHex[(lo >> (4 * nibble)) & 0xF];
  }
  return id;
}

absl::StatusOr<std::unique_ptr<BroadcasterService>> BroadcasterService::Create(
    const ConfigNode& config, const std::string& listen_override) {
  SB_ASSIGN_OR_RETURN(BroadcasterConfig parsed,
                      BroadcasterConfig::Parse(config, listen_override));
  std::unique_ptr<DiskLog> disk;
  if (parsed.disk_buffer.has_value()) {
    absl::StatusOr<std::unique_ptr<DiskLog>> opened =
        DiskLog::Open(*parsed.disk_buffer);
    if (!opened.ok()) {
      return absl::Status(
          opened.status().code(),
          absl::StrCat("buffer.disk: ", opened.status().message()));
    }
    disk = *std::move(opened);
  }
  return std::make_unique<BroadcasterService>(std::move(parsed),
                                              listen_override, std::move(disk));
}

absl::Status BroadcasterService::CheckConfig(
    const ConfigNode& config, const std::string& listen_override) {
  return BroadcasterConfig::Parse(config, listen_override).status();
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
                                       std::string listen_override,
                                       std::unique_ptr<DiskLog> disk)
    : listen_(config.listen),
      listen_override_(std::move(listen_override)),
      settings_(std::make_shared<const Settings>(std::move(config))),
      buffer_(settings_->config.buffer, &confirmations_, std::move(disk)),
      queue_budget_(settings_->config.routing.dynamic_queues),
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
  {
    const DiskLog* running = buffer_.disk();
    const bool same_disk =
        parsed.disk_buffer.has_value() == (running != nullptr) &&
        (running == nullptr ||
         (parsed.disk_buffer->path == running->options().path &&
          parsed.disk_buffer->segment_bytes ==
              running->options().segment_bytes &&
          parsed.disk_buffer->fsync == running->options().fsync &&
          parsed.disk_buffer->fsync_interval ==
              running->options().fsync_interval));
    if (!same_disk) {
      return absl::FailedPreconditionError(
          "buffer.type and buffer.disk cannot change without a restart (the "
          "buffer holds accepted events); the running settings stay");
    }
  }
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
    queue_budget_.SetLimits(next->config.routing.dynamic_queues);
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
                                       std::vector<RoutedEvent>& routed,
                                       absl::Span<const size_t> group_ends,
                                       absl::Span<const uint64_t> tokens) {
  absl::MutexLock lock(&push_mu_);
  auto turn = [this, ticket]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(push_mu_) {
    return serving_ticket_ == ticket;
  };
  push_mu_.Await(absl::Condition(&turn));
  const size_t pushed = buffer_.Push(routed, group_ends, tokens);
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

void BroadcasterService::TickLoop() {
  while (true) {
    absl::Duration period;
    {
      absl::ReaderMutexLock settings_lock(&settings_mu_);
      period = std::clamp(settings_->config.regions.alive_interval / 4,
                          absl::Milliseconds(10), absl::Milliseconds(500));
    }
    {
      absl::MutexLock lock(&ticker_mu_);
      ticker_mu_.AwaitWithTimeout(absl::Condition(&ticker_stopping_), period);
      if (ticker_stopping_) return;
    }
    Tick();
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

// The answers of one Publish stream, in batch order: a CONFIRMED batch's
// answer waits for the transport, and every later answer waits behind it.
// Shared by the stream and the callbacks of its waiting batches, which may
// run after the stream has ended (their answers are then dropped).
class AnswerQueue {
 public:
  using Writer = BidiStream<PublishRequest, PublishResponse>::Writer;

  AnswerQueue(std::shared_ptr<Writer> writer, size_t max_unanswered)
      : writer_(std::move(writer)), max_unanswered_(max_unanswered) {}

  // A place for the next batch's answer.
  uint64_t Open() {
    absl::MutexLock lock(&mu_);
    slots_.emplace_back();
    ++unanswered_;
    return first_slot_ + slots_.size() - 1;
  }

  // Fills `slot`; sends every answer now complete at the front, in order.
  void Fill(uint64_t slot, PublishResponse response) {
    bool was_full, finish;
    {
      absl::MutexLock lock(&mu_);
      was_full = full();
      slots_[slot - first_slot_] = std::move(response);
      // Sent under the lock, so answers filled on two threads go out in
      // slot order.
      while (!slots_.empty() && slots_.front().has_value()) {
        writer_->Send(*std::move(slots_.front()));
        slots_.pop_front();
        ++first_slot_;
        --unanswered_;
      }
      finish = client_done_ && slots_.empty();
    }
    if (finish) writer_->Finish(grpc::Status::OK);
    if (was_full && !full()) writer_->ResumeReads();
  }

  // The producer sent its last batch: the stream ends OK once every batch
  // is answered.
  void ClientDone() {
    bool finish;
    {
      absl::MutexLock lock(&mu_);
      client_done_ = true;
      finish = slots_.empty();
    }
    if (finish) writer_->Finish(grpc::Status::OK);
  }

  // Too many batches wait for their answer: the stream stops reading.
  // Lock-free, for BidiStream::HoldReads.
  bool full() const { return unanswered_.load() >= max_unanswered_; }

 private:
  const std::shared_ptr<Writer> writer_;
  const size_t max_unanswered_;
  absl::Mutex mu_;
  std::deque<std::optional<PublishResponse>> slots_ ABSL_GUARDED_BY(mu_);
  uint64_t first_slot_ ABSL_GUARDED_BY(mu_) = 0;
  bool client_done_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<size_t> unanswered_{0};
};

class PublishStream final : public BidiStream<PublishRequest, PublishResponse> {
 public:
  // `header_error`: the stream ends with it at once (bad headers, or
  // credentials refused); `who` is the producer (null: auth off).
  // `auth` (null: not configured) is asked again for the producer's
  // identity when its settings change (a reload) while the stream is open.
  PublishStream(BroadcasterService* service, StreamSet* streams,
                size_t max_pending, switchboard::v1::Acceptance level,
                absl::Status header_error, AuthPolicy* auth,
                grpc::CallbackServerContext* context,
                std::shared_ptr<const Identity> who)
      : BidiStream(streams, max_pending),
        service_(service),
        level_(level),
        auth_(auth),
        context_(context),
        auth_generation_(auth != nullptr ? auth->generation() : 0),
        who_(std::move(who)),
        answers_(std::make_shared<AnswerQueue>(writer(), max_pending)) {
    if (!header_error.ok()) {
      writer()->Finish(ToGrpcStatus(header_error));
      return;
    }
    StartStream();
  }

 private:
  void OnRequest(PublishRequest& request) override {
    if (auth_ != nullptr && auth_->generation() != auth_generation_) {
      auth_generation_ = auth_->generation();
      absl::StatusOr<std::shared_ptr<const Identity>> who =
          auth_->Authenticate(*context_);
      if (!who.ok()) {
        writer()->Finish(ToGrpcStatus(who.status()));
        return;
      }
      who_ = *std::move(who);
    }
    const uint64_t slot = answers_->Open();
    const switchboard::v1::Acceptance level =
        request.acceptance() == switchboard::v1::ACCEPTANCE_UNSPECIFIED
            ? level_
            : request.acceptance();
    service_->Accept(
        request, level,
        [answers = answers_, slot](PublishResponse response) {
          answers->Fill(slot, std::move(response));
        },
        who_.get());
  }

  bool HoldReads() const override { return answers_->full(); }
  void OnClientDone() override { answers_->ClientDone(); }

  BroadcasterService* const service_;
  // The stream's level, for batches that leave theirs unset.
  const switchboard::v1::Acceptance level_;
  AuthPolicy* const auth_;
  grpc::CallbackServerContext* const context_;
  // OnRequest calls never overlap: the stream's reader owns these.
  uint64_t auth_generation_;
  std::shared_ptr<const Identity> who_;
  const std::shared_ptr<AnswerQueue> answers_;
};

// The stream's acceptance level from the `switchboard-acceptance` request
// header: BUFFERED without it.
absl::StatusOr<switchboard::v1::Acceptance> StreamAcceptance(
    const grpc::CallbackServerContext* context) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find(std::string(kAcceptanceHeader));
  if (it == metadata.end()) return switchboard::v1::BUFFERED;
  const absl::string_view value(it->second.data(), it->second.size());
  if (absl::EqualsIgnoreCase(value, "buffered")) {
    return switchboard::v1::BUFFERED;
  }
  if (absl::EqualsIgnoreCase(value, "confirmed")) {
    return switchboard::v1::CONFIRMED;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("header ", kAcceptanceHeader, ": '", value,
                   "' is not 'buffered' or 'confirmed'"));
}

}  // namespace

grpc::ServerBidiReactor<PublishRequest, PublishResponse>*
BroadcasterService::Publish(grpc::CallbackServerContext* context) {
  uint32_t max_pending;
  {
    absl::ReaderMutexLock lock(&settings_mu_);
    max_pending = settings_->config.max_pending_batches;
  }
  absl::StatusOr<std::shared_ptr<const Identity>> who =
      auth_ != nullptr ? auth_->Authenticate(*context)
                       : std::shared_ptr<const Identity>();
  absl::StatusOr<switchboard::v1::Acceptance> level = StreamAcceptance(context);
  return new PublishStream(
      this, &streams_, max_pending, level.value_or(switchboard::v1::BUFFERED),
      who.ok() ? level.status() : who.status(), auth_.get(), context,
      who.value_or(std::shared_ptr<const Identity>()));
}

switchboard::v1::BroadcasterStats BroadcasterService::Stats() const {
  switchboard::v1::BroadcasterStats out;
  EventBuffer::Stats buffer = buffer_.stats();
  Forwarder::Stats forwarder = forwarder_.stats();
  out.set_accepted(accepted_.load());
  out.set_rejected_invalid(rejected_invalid_.load());
  out.set_rejected_full(rejected_full_.load());
  out.set_rejected_queue_cap(rejected_queue_cap_.load());
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
  out.set_confirmed(confirmed_.load());
  out.set_confirm_failed(confirm_failed_.load());
  out.set_confirm_waiting(confirmations_.waiting());
  out.set_buffer_limit_events(buffer.limits.max_events);
  out.set_buffer_limit_bytes(buffer.limits.max_bytes);
  return out;
}

std::vector<std::shared_ptr<prometheus::Collectable>>
BroadcasterService::metrics_collectables(const MetricsSettings& settings) {
  if (metrics_ == nullptr) {
    region_commands_.set_max_label_values(settings.max_label_values);
    metrics_ =
        std::make_shared<BroadcasterMetrics>(this, settings.max_label_values);
  }
  return {metrics_};
}

grpc::ServerUnaryReactor* BroadcasterService::GetStats(
    grpc::CallbackServerContext* context,
    const switchboard::v1::GetStatsRequest* request,
    switchboard::v1::BroadcasterStats* response) {
  auto* reactor = context->DefaultReactor();
  if (absl::Status s = CheckAccess(auth_.get(), *context, Action::kRead);
      !s.ok()) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  *response = Stats();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

void BroadcasterService::SetAuthPolicy(std::shared_ptr<AuthPolicy> auth) {
  regions_service_.SetAuthPolicy(auth);
  auth_ = std::move(auth);
}

}  // namespace switchboard::broadcaster
