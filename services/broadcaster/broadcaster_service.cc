#include "services/broadcaster/broadcaster_service.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/common/logging.h"
#include "services/common/status_macros.h"

namespace switchboard::broadcaster {

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
      regions_service_(&tracker_,
                       [this] {
                         absl::ReaderMutexLock lock(&settings_mu_);
                         return settings_->config.regions.enabled;
                       }),
      publish_(
          [this](switchboard::v1::PublishRequest& request,
                 switchboard::v1::Acceptance level, AnswerFn answer,
                 const Identity* who) {
            Accept(request, level, std::move(answer), who);
          },
          [this] {
            absl::ReaderMutexLock lock(&settings_mu_);
            return settings_->config.max_pending_batches;
          }),
      stats_([this] { return Stats(); }),
      rpcs_({&publish_, &stats_}) {}

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

void BroadcasterService::Drain() { publish_.CloseAll(); }

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

void BroadcasterService::SetAuthPolicy(std::shared_ptr<AuthPolicy> auth) {
  regions_service_.SetAuthPolicy(auth);
  rpcs_.SetAuthPolicy(auth);
  auth_ = std::move(auth);
}

}  // namespace switchboard::broadcaster
