#include "services/mq-bridge/bridge_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/common/logging.h"
#include "services/common/status_macros.h"
#include "services/mq-bridge/transport/registry.h"

namespace switchboard::bridge {

absl::StatusOr<std::unique_ptr<BridgeService>> BridgeService::Create(
    const ConfigNode& config, const std::string& listen_override) {
  SB_ASSIGN_OR_RETURN(ParsedBridgeConfig parsed,
                      ParseBridgeConfig(config, listen_override));
  SB_ASSIGN_OR_RETURN(std::unique_ptr<Transport> transport,
                      TransportRegistry::Global().Create(
                          parsed.config.driver, parsed.driver_settings));
  Logger("bridge")->info("transport driver: {}", parsed.config.driver);
  return std::make_unique<BridgeService>(parsed.config, std::move(transport));
}

absl::Status BridgeService::CheckConfig(const ConfigNode& config,
                                        const std::string& listen_override) {
  SB_ASSIGN_OR_RETURN(ParsedBridgeConfig parsed,
                      ParseBridgeConfig(config, listen_override));
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
                                                      transport_health_)),
      produce_(transport_source(), produce_counters_,
               config_.max_pending_batches),
      consume_(transport_source()),
      queue_stats_(transport_source()),
      transport_info_(transport_source()),
      rpcs_(BridgeRpcService::Handlers{&produce_, &consume_, &queue_stats_,
                                       &transport_info_}) {}

BridgeService::~BridgeService() { transport_health_->StopWatching(); }

void BridgeService::SetHealthReporter(std::shared_ptr<HealthReporter> health) {
  absl::MutexLock lock(&reporter_mu_);
  reporter_ = std::move(health);
}

absl::Status BridgeService::Start() {
  transport_health_->StartWatching(
      [this](bool healthy) { OnTransportHealth(healthy); });
  return absl::OkStatus();
}

void BridgeService::OnTransportHealth(bool healthy) {
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
}

void BridgeService::Stop() { transport_health_->StopWatching(); }

std::vector<std::shared_ptr<prometheus::Collectable>>
BridgeService::metrics_collectables(const MetricsSettings& settings) {
  if (metrics_ == nullptr) {
    BridgeMetrics::Sources sources;
    sources.produce = produce_counters_;
    sources.transport = transport_source();
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
  produce_.CloseAll();
  consume_.CloseAll();
}

absl::Status BridgeService::Reload(const ConfigNode& config) {
  SB_ASSIGN_OR_RETURN(ParsedBridgeConfig parsed,
                      ParseBridgeConfig(config, config_.listen));
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
  consume_.EndAll(absl::UnavailableError(
      "the bridge reloaded its settings; subscribe again"));
  ReplaceTransport(std::move(fresh));
  Logger("bridge")->info("transport reloaded: driver {}", parsed.config.driver);
  return absl::OkStatus();
}

void BridgeService::ReplaceTransport(std::shared_ptr<Transport> fresh) {
  // Held while the old transport finishes: no batch reaches either
  // transport meanwhile, so per-source order holds across the swap.
  absl::MutexLock lock(&transport_mu_);
  std::shared_ptr<Transport> old = std::move(transport_);
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (old.use_count() > 1 && absl::Now() < deadline) {
    // Streams that took it just before the swap are handing it a batch,
    // and ended Consume streams are releasing their subscriptions; none
    // of that needs this lock.
    absl::SleepFor(absl::Milliseconds(5));
  }
  if (old.use_count() > 1) {
    Logger("bridge")->warn(
        "old transport still in use after 10s; it closes when "
        "released");
  }
  // Waits for its unconfirmed batches, then closes its sessions.
  old.reset();
  transport_ = std::move(fresh);
  // It just connected; what the old one said no longer counts.
  transport_health_->Reset();
}

}  // namespace switchboard::bridge
