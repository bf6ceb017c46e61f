#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_BRIDGE_RPC_SERVICE_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_BRIDGE_RPC_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "absl/status/status.h"
#include "services/common/auth_policy.h"
#include "services/mq-bridge/consume_handler.h"
#include "services/mq-bridge/produce_handler.h"
#include "services/mq-bridge/queue_stats_handler.h"
#include "services/mq-bridge/transport_info_handler.h"
#include "switchboard/v1/bridge.grpc.pb.h"

namespace switchboard::bridge {

// switchboard.v1.Bridge as the gRPC server sees it: every RPC needs the
// `bridge` action (the broadcaster's and consumer's identities), then goes
// to its handler; the handlers' absl::Status becomes the RPC's status here.
// A new RPC is one proto plus one handler class, routed here. Thread-safe.
class BridgeRpcService final : public switchboard::v1::Bridge::CallbackService {
 public:
  // The handlers must outlive this service and every stream it opens.
  struct Handlers {
    ProduceHandler* produce;
    ConsumeHandler* consume;
    const QueueStatsHandler* queue_stats;
    const TransportInfoHandler* transport_info;
  };

  explicit BridgeRpcService(Handlers handlers);

  // Called before the server starts; null (or never called): auth not
  // configured, everything is allowed.
  void SetAuthPolicy(std::shared_ptr<AuthPolicy> auth) {
    auth_ = std::move(auth);
  }

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

  // Whether the caller may use the bridge.
  absl::Status Access(const grpc::CallbackServerContext& context) const;

  const Handlers handlers_;
  // Set before the server starts; null: auth not configured.
  std::shared_ptr<AuthPolicy> auth_;
};

}  // namespace switchboard::bridge

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_BRIDGE_RPC_SERVICE_H_
