#include "services/broadcaster/broadcaster_rpc_service.h"

#include "services/common/grpc_status.h"

namespace switchboard::broadcaster {

grpc::ServerBidiReactor<switchboard::v1::PublishRequest,
                        switchboard::v1::PublishResponse>*
BroadcasterRpcService::Publish(grpc::CallbackServerContext* context) {
  return handlers_.publish->Open(context, auth_.get());
}

grpc::ServerUnaryReactor* BroadcasterRpcService::GetStats(
    grpc::CallbackServerContext* context,
    const switchboard::v1::GetStatsRequest* request,
    switchboard::v1::BroadcasterStats* response) {
  absl::Status status = CheckAccess(auth_.get(), *context, Action::kRead);
  if (status.ok()) status = handlers_.stats->Handle(*request, response);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace switchboard::broadcaster
