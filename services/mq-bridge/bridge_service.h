#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_BRIDGE_SERVICE_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_BRIDGE_SERVICE_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "services/common/bidi_stream.h"
#include "services/common/config.h"
#include "services/common/server.h"
#include "services/common/server_limits.h"
#include "services/mq-bridge/bridge_config.h"
#include "services/mq-bridge/bridge_metrics.h"
#include "services/mq-bridge/bridge_rpc_service.h"
#include "services/mq-bridge/consume_handler.h"
#include "services/mq-bridge/produce_handler.h"
#include "services/mq-bridge/queue_stats_handler.h"
#include "services/mq-bridge/transport/registry.h"
#include "services/mq-bridge/transport/transport.h"
#include "services/mq-bridge/transport_health.h"
#include "services/mq-bridge/transport_info_handler.h"
#include "switchboard/v1/bridge.grpc.pb.h"

namespace switchboard::bridge {

// The mq-bridge service: the gRPC face of one Transport. Thread-safe.
//
// This class is the bridge's lifecycle: its settings (bridge_config.h), the
// transport it owns and replaces on reload, health and metrics. Each RPC
// of switchboard.v1.Bridge is a handler class of its own (produce_handler.h,
// consume_handler.h, queue_stats_handler.h, transport_info_handler.h),
// composed here and served through BridgeRpcService.
//
// SIGHUP reloads `transport.*`: the new transport is connected first, the
// Consume streams are ended (apps subscribe again; their unacked deliveries
// return to the queues), then, with new batches held back, the old
// transport finishes its unconfirmed batches and closes its sessions before
// the new one takes over. Confirmed events are never lost and per-source
// order holds across the swap. Other settings need a restart.
//
// Health: switchboard.v1.Bridge is NOT_SERVING while the transport cannot
// do its job, as TransportHealth judges from the calls made to it.
class BridgeService final : public ServiceBase {
 public:
  // Validates the whole config and creates the transport it names.
  static absl::StatusOr<std::unique_ptr<BridgeService>> Create(
      const ConfigNode& config, const std::string& listen_override);
  // Create's validation, the driver's settings included, without creating
  // the transport (nothing connected to or bound).
  static absl::Status CheckConfig(const ConfigNode& config,
                                  const std::string& listen_override);

  // The bridge's defaults of the `limits` settings: the consumer carries
  // every subscription on one connection, so many streams.
  static ServerLimits DefaultLimits();

  BridgeService(BridgeConfig config, std::unique_ptr<Transport> transport);
  ~BridgeService() override;

  const BridgeConfig& config() const { return config_; }
  std::string listen_address() const override { return config_.listen; }
  std::vector<grpc::Service*> grpc_services() override { return {&rpcs_}; }
  // Every RPC then needs `bridge` (the broadcaster's and consumer's
  // identities).
  void SetAuthPolicy(std::shared_ptr<AuthPolicy> auth) override {
    rpcs_.SetAuthPolicy(std::move(auth));
  }
  void SetHealthReporter(std::shared_ptr<HealthReporter> health) override;
  absl::Status Start() override;
  void Drain() override;
  void Stop() override;
  absl::Status Reload(const ConfigNode& config) override;

  std::vector<std::shared_ptr<prometheus::Collectable>> metrics_collectables(
      const MetricsSettings& settings) override;
  // What Produce streams count (metrics).
  const std::shared_ptr<ProduceCounters>& produce_counters() const {
    return produce_counters_;
  }

  // The transport in use now; kept alive by the caller's copy.
  std::shared_ptr<Transport> CurrentTransport() const;
  Transport& transport() { return *CurrentTransport(); }

 private:
  // CurrentTransport, for the handlers.
  TransportSource transport_source() {
    return [this] { return CurrentTransport(); };
  }
  // Installs `fresh` once the running transport is released (up to 10s) and
  // has finished its unconfirmed batches and closed its sessions. New
  // batches wait meanwhile.
  void ReplaceTransport(std::shared_ptr<Transport> fresh)
      ABSL_LOCKS_EXCLUDED(transport_mu_);
  // The transport's health changed (TransportHealth's report).
  void OnTransportHealth(bool healthy) ABSL_LOCKS_EXCLUDED(reporter_mu_);

  const BridgeConfig config_;
  // Fed by every transport this service creates (a reload resets it).
  const std::shared_ptr<TransportHealth> transport_health_;
  absl::Mutex reporter_mu_;
  std::shared_ptr<HealthReporter> reporter_ ABSL_GUARDED_BY(reporter_mu_);
  mutable absl::Mutex transport_mu_;
  std::shared_ptr<Transport> transport_ ABSL_GUARDED_BY(transport_mu_);
  const std::shared_ptr<ProduceCounters> produce_counters_ =
      std::make_shared<ProduceCounters>();
  // The transport's health went from NOT_SERVING to SERVING.
  std::atomic<uint64_t> transport_recoveries_{0};
  std::atomic<bool> transport_was_down_{false};
  std::shared_ptr<BridgeMetrics> metrics_;
  // One handler per RPC, and the gRPC service routing to them.
  ProduceHandler produce_;
  ConsumeHandler consume_;
  QueueStatsHandler queue_stats_;
  TransportInfoHandler transport_info_;
  BridgeRpcService rpcs_;
};

}  // namespace switchboard::bridge

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_BRIDGE_SERVICE_H_
