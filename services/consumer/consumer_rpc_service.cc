#include "services/consumer/consumer_rpc_service.h"

#include <utility>

#include "services/common/grpc_status.h"

namespace switchboard::consumer {
namespace {

using switchboard::v1::SubscribeRequest;
// What apps receive, with each event as the bytes the bridge delivered.
using relay::SubscribeResponse;

// A unary RPC's end: `status` at the RPC edge.
grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context,
                                 const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace

ConsumerRpcService::ConsumerRpcService(Handlers handlers)
    : handlers_(handlers) {
  // Subscribe answers with relay::SubscribeResponse, which apps read as
  // switchboard.v1.SubscribeResponse: the same method (index 0 of the
  // Consumer service, as generated from consumer.proto) with a response
  // type that keeps events as bytes. Reflection still describes the
  // public types.
  MarkMethodCallback(kSubscribeMethodIndex,
                     new grpc::internal::CallbackBidiHandler<SubscribeRequest,
                                                             SubscribeResponse>(
                         [this](grpc::CallbackServerContext* context) {
                           return OpenSubscription(context);
                         }));
}

absl::Status ConsumerRpcService::Allow(
    const grpc::CallbackServerContext& context, Action action) const {
  return CheckAccess(auth_.get(), context, action);
}

grpc::ServerBidiReactor<SubscribeRequest, SubscribeResponse>*
ConsumerRpcService::OpenSubscription(grpc::CallbackServerContext* context) {
  absl::StatusOr<std::shared_ptr<const Identity>> who =
      auth_ != nullptr ? auth_->Authenticate(*context)
                       : std::shared_ptr<const Identity>();
  return handlers_.subscribe->Open(auth_.get(), std::move(who));
}

grpc::ServerUnaryReactor* ConsumerRpcService::ListQueues(
    grpc::CallbackServerContext* context,
    const switchboard::v1::ListQueuesRequest* request,
    switchboard::v1::ListQueuesResponse* response) {
  if (absl::Status s = Allow(*context, Action::kRead); !s.ok()) {
    return Finish(context, s);
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  handlers_.list_queues->Handle(*request, response,
                                [reactor](absl::Status status) {
                                  reactor->Finish(ToGrpcStatus(status));
                                });
  return reactor;
}

grpc::ServerUnaryReactor* ConsumerRpcService::GetLinkStatus(
    grpc::CallbackServerContext* context,
    const switchboard::v1::GetLinkStatusRequest* request,
    switchboard::v1::LinkState* response) {
  absl::Status status = Allow(*context, Action::kRead);
  if (status.ok()) {
    status = handlers_.get_link_status->Handle(*request, response);
  }
  return Finish(context, status);
}

grpc::ServerUnaryReactor* ConsumerRpcService::ListLinkStatus(
    grpc::CallbackServerContext* context,
    const switchboard::v1::ListLinkStatusRequest* request,
    switchboard::v1::ListLinkStatusResponse* response) {
  absl::Status status = Allow(*context, Action::kRead);
  if (status.ok()) {
    status = handlers_.list_link_status->Handle(*request, response);
  }
  return Finish(context, status);
}

grpc::ServerWriteReactor<switchboard::v1::WatchLinkStatusResponse>*
ConsumerRpcService::WatchLinkStatus(
    grpc::CallbackServerContext* context,
    const switchboard::v1::WatchLinkStatusRequest* request) {
  return handlers_.watch_link_status->Open(Allow(*context, Action::kRead),
                                           *request);
}

}  // namespace switchboard::consumer
