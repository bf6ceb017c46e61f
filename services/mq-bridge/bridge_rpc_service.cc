#include "services/mq-bridge/bridge_rpc_service.h"

#include "services/common/grpc_status.h"

namespace switchboard::bridge {
namespace {

using switchboard::v1::ConsumeRequest;
using switchboard::v1::ProduceRequest;
using switchboard::v1::ProduceResponse;

// A unary RPC's end: `status` at the RPC edge.
grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context,
                                 const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace

BridgeRpcService::BridgeRpcService(Handlers handlers) : handlers_(handlers) {
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

absl::Status BridgeRpcService::Access(
    const grpc::CallbackServerContext& context) const {
  return CheckAccess(auth_.get(), context, Action::kBridge);
}

grpc::ServerBidiReactor<ProduceRequest, ProduceResponse>*
BridgeRpcService::Produce(grpc::CallbackServerContext* context) {
  return handlers_.produce->Open(Access(*context));
}

grpc::ServerBidiReactor<ConsumeRequest, grpc::ByteBuffer>*
BridgeRpcService::OpenConsume(grpc::CallbackServerContext* context) {
  return handlers_.consume->Open(Access(*context));
}

grpc::ServerUnaryReactor* BridgeRpcService::GetQueueStats(
    grpc::CallbackServerContext* context,
    const switchboard::v1::GetQueueStatsRequest* request,
    switchboard::v1::GetQueueStatsResponse* response) {
  absl::Status status = Access(*context);
  if (status.ok()) status = handlers_.queue_stats->Handle(*request, response);
  return Finish(context, status);
}

grpc::ServerUnaryReactor* BridgeRpcService::GetTransportInfo(
    grpc::CallbackServerContext* context,
    const switchboard::v1::GetTransportInfoRequest* request,
    switchboard::v1::TransportInfo* response) {
  absl::Status status = Access(*context);
  if (status.ok()) {
    status = handlers_.transport_info->Handle(*request, response);
  }
  return Finish(context, status);
}

}  // namespace switchboard::bridge
