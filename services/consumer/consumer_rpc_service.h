#ifndef SWITCHBOARD_SERVICES_CONSUMER_CONSUMER_RPC_SERVICE_H_
#define SWITCHBOARD_SERVICES_CONSUMER_CONSUMER_RPC_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "absl/status/status.h"
#include "services/common/auth_policy.h"
#include "services/consumer/link_status_handlers.h"
#include "services/consumer/list_queues_handler.h"
#include "services/consumer/relay.pb.h"
#include "services/consumer/subscribe_handler.h"
#include "switchboard/v1/consumer.grpc.pb.h"

namespace switchboard::consumer {

// switchboard.v1.Consumer as the gRPC server sees it: each RPC checks the
// caller (Subscribe authenticates it, and its handler checks each queue
// against the identity; the others need the `read` action), then goes to its
// handler; the handlers' absl::Status becomes the RPC's status here. A new
// RPC is one proto plus one handler class, routed here. Thread-safe.
class ConsumerRpcService final
    : public switchboard::v1::Consumer::CallbackService {
 public:
  // The handlers must outlive this service and every call it serves.
  struct Handlers {
    SubscribeHandler* subscribe;
    const ListQueuesHandler* list_queues;
    const GetLinkStatusHandler* get_link_status;
    const ListLinkStatusHandler* list_link_status;
    WatchLinkStatusHandler* watch_link_status;
  };

  explicit ConsumerRpcService(Handlers handlers);

  // Called before the server starts; null (or never called): auth not
  // configured, everything is allowed.
  void SetAuthPolicy(std::shared_ptr<AuthPolicy> auth) {
    auth_ = std::move(auth);
  }

  // Subscribe, registered with the relay encoding of its responses.
  grpc::ServerBidiReactor<switchboard::v1::SubscribeRequest,
                          relay::SubscribeResponse>*
  OpenSubscription(grpc::CallbackServerContext* context);
  grpc::ServerUnaryReactor* ListQueues(
      grpc::CallbackServerContext* context,
      const switchboard::v1::ListQueuesRequest* request,
      switchboard::v1::ListQueuesResponse* response) override;
  grpc::ServerUnaryReactor* GetLinkStatus(
      grpc::CallbackServerContext* context,
      const switchboard::v1::GetLinkStatusRequest* request,
      switchboard::v1::LinkState* response) override;
  grpc::ServerUnaryReactor* ListLinkStatus(
      grpc::CallbackServerContext* context,
      const switchboard::v1::ListLinkStatusRequest* request,
      switchboard::v1::ListLinkStatusResponse* response) override;
  grpc::ServerWriteReactor<switchboard::v1::WatchLinkStatusResponse>*
  WatchLinkStatus(
      grpc::CallbackServerContext* context,
      const switchboard::v1::WatchLinkStatusRequest* request) override;

 private:
  // Subscribe's place in the Consumer service's generated method table.
  static constexpr int kSubscribeMethodIndex = 0;

  // OK when auth is not configured or grants `action` to the caller.
  absl::Status Allow(const grpc::CallbackServerContext& context,
                     Action action) const;

  const Handlers handlers_;
  // Set before the server starts; null: auth not configured.
  std::shared_ptr<AuthPolicy> auth_;
};

}  // namespace switchboard::consumer

#endif  // SWITCHBOARD_SERVICES_CONSUMER_CONSUMER_RPC_SERVICE_H_
