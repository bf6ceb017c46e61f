#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_BRIDGE_SERVICE_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_BRIDGE_SERVICE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/common/bidi_stream.h"
#include "services/common/config.h"
#include "services/common/server.h"
#include "services/mq-bridge/transport/transport.h"
#include "switchboard/v1/bridge.grpc.pb.h"

namespace switchboard::bridge {

// The bridge's settings (bridge.yaml):
//   listen: "0.0.0.0:50053"
//   transport:
//     driver: memory          # or any registered driver
//     memory: {...}           # settings of each driver, under its name
struct BridgeConfig {
  std::string listen = "0.0.0.0:50053";
  std::string driver = "memory";
  // Responses queued on one Produce stream before it stops reading.
  uint32_t max_pending_batches = 64;
};

// The mq-bridge service: the gRPC face of one Transport. Thread-safe.
class BridgeService final : public ServiceBase,
                            public switchboard::v1::Bridge::CallbackService {
 public:
  // Validates the whole config and creates the transport it names.
  static absl::StatusOr<std::unique_ptr<BridgeService>> Create(
      const ConfigNode& config, const std::string& listen_override);

  BridgeService(BridgeConfig config, std::unique_ptr<Transport> transport);

  std::string listen_address() const override { return config_.listen; }
  std::vector<grpc::Service*> grpc_services() override { return {this}; }
  void Drain() override;

  Transport& transport() { return *transport_; }

  // Bridge RPCs.
  grpc::ServerBidiReactor<switchboard::v1::ProduceRequest,
                          switchboard::v1::ProduceResponse>*
  Produce(grpc::CallbackServerContext* context) override;
  grpc::ServerBidiReactor<switchboard::v1::ConsumeRequest,
                          switchboard::v1::ConsumeResponse>*
  Consume(grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* GetQueueStats(
      grpc::CallbackServerContext* context,
      const switchboard::v1::GetQueueStatsRequest* request,
      switchboard::v1::GetQueueStatsResponse* response) override;
  grpc::ServerUnaryReactor* GetTransportInfo(
      grpc::CallbackServerContext* context,
      const switchboard::v1::GetTransportInfoRequest* request,
      switchboard::v1::TransportInfo* response) override;

 private:
  const BridgeConfig config_;
  const std::unique_ptr<Transport> transport_;
  StreamSet streams_;
};

}  // namespace switchboard::bridge

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_BRIDGE_SERVICE_H_
