#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_BRIDGE_SERVICE_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_BRIDGE_SERVICE_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/common/bidi_stream.h"
#include "services/common/config.h"
#include "services/common/server.h"
#include "services/common/server_limits.h"
#include "services/mq-bridge/bridge_metrics.h"
#include "services/mq-bridge/transport/registry.h"
#include "services/mq-bridge/transport/transport.h"
#include "services/mq-bridge/transport_health.h"
#include "switchboard/v1/bridge.grpc.pb.h"

namespace switchboard::bridge {

// The bridge's settings (bridge.yaml):
//   listen: "127.0.0.1:50053"
//   transport:
//     driver: <name>          # any registered driver; by default the
//                             # registry's DefaultDriver()
//     <name>: {...}           # settings of each driver, under its name
struct BridgeConfig {
  std::string listen = "127.0.0.1:50053";
  std::string driver = TransportRegistry::Global().DefaultDriver();
  // Responses queued on one Produce stream before it stops reading.
  uint32_t max_pending_batches = 64;
  // `health.transport_timeout`: a transport call unanswered this long makes
  // the bridge NOT_SERVING (see TransportHealth).
  absl::Duration transport_timeout = absl::Seconds(10);
};

// The mq-bridge service: the gRPC face of one Transport. Thread-safe.
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
class BridgeService final : public ServiceBase,
                            public switchboard::v1::Bridge::CallbackService {
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
  std::vector<grpc::Service*> grpc_services() override { return {this}; }
  // Every RPC then needs `bridge` (the broadcaster's and consumer's
  // identities).
  void SetAuthPolicy(std::shared_ptr<AuthPolicy> auth) override {
    auth_ = std::move(auth);
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

  // Bridge RPCs.
  grpc::ServerBidiReactor<switchboard::v1::ProduceRequest,
                          switchboard::v1::ProduceResponse>*
  Produce(grpc::CallbackServerContext* context) override;
  // Consume, registered with its responses written by
  // EncodeConsumeResponse.
  grpc::ServerBidiReactor<switchboard::v1::ConsumeRequest, grpc::ByteBuffer>*
  OpenConsume(grpc::CallbackServerContext* context);
  grpc::ServerUnaryReactor* GetQueueStats(
      grpc::CallbackServerContext* context,
      const switchboard::v1::GetQueueStatsRequest* request,
      switchboard::v1::GetQueueStatsResponse* response) override;
  grpc::ServerUnaryReactor* GetTransportInfo(
      grpc::CallbackServerContext* context,
      const switchboard::v1::GetTransportInfoRequest* request,
      switchboard::v1::TransportInfo* response) override;

 private:
  // Consume's place in the Bridge service's generated method table.
  static constexpr int kConsumeMethodIndex = 1;
  // Set before the server starts; null: auth not configured.
  std::shared_ptr<AuthPolicy> auth_;
  const BridgeConfig config_;
  // Fed by every transport this service creates (a reload resets it).
  const std::shared_ptr<TransportHealth> transport_health_;
  absl::Mutex reporter_mu_;
  std::shared_ptr<HealthReporter> reporter_ ABSL_GUARDED_BY(reporter_mu_);
  mutable absl::Mutex transport_mu_;
  std::shared_ptr<Transport> transport_ ABSL_GUARDED_BY(transport_mu_);
  StreamSet produce_streams_;
  StreamSet consume_streams_;
  const std::shared_ptr<ProduceCounters> produce_counters_ =
      std::make_shared<ProduceCounters>();
  // The transport's health went from NOT_SERVING to SERVING.
  std::atomic<uint64_t> transport_recoveries_{0};
  std::atomic<bool> transport_was_down_{false};
  std::shared_ptr<BridgeMetrics> metrics_;
};

}  // namespace switchboard::bridge

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_BRIDGE_SERVICE_H_
