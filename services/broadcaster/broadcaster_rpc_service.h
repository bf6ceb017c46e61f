#ifndef SWITCHBOARD_SERVICES_BROADCASTER_BROADCASTER_RPC_SERVICE_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_BROADCASTER_RPC_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <utility>

#include "services/broadcaster/publish_handler.h"
#include "services/broadcaster/stats_handler.h"
#include "services/common/auth_policy.h"
#include "switchboard/v1/broadcaster.grpc.pb.h"

namespace switchboard::broadcaster {

// switchboard.v1.Broadcaster as the gRPC server sees it: each RPC goes to
// its handler. Publish authenticates the producer (each event is then
// authorized on its own); GetStats needs the `read` action. The handlers'
// absl::Status becomes the RPC's status here. A new RPC is one proto plus
// one handler class, routed here. Thread-safe.
class BroadcasterRpcService final
    : public switchboard::v1::Broadcaster::CallbackService {
 public:
  // The handlers must outlive this service and every stream it opens.
  struct Handlers {
    PublishHandler* publish;
    const StatsHandler* stats;
  };

  explicit BroadcasterRpcService(Handlers handlers) : handlers_(handlers) {}

  // Called before the server starts; null (or never called): auth not
  // configured, everything is allowed.
  void SetAuthPolicy(std::shared_ptr<AuthPolicy> auth) {
    auth_ = std::move(auth);
  }

  grpc::ServerBidiReactor<switchboard::v1::PublishRequest,
                          switchboard::v1::PublishResponse>*
  Publish(grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* GetStats(
      grpc::CallbackServerContext* context,
      const switchboard::v1::GetStatsRequest* request,
      switchboard::v1::BroadcasterStats* response) override;

 private:
  const Handlers handlers_;
  // Set before the server starts; null: auth not configured.
  std::shared_ptr<AuthPolicy> auth_;
};

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_BROADCASTER_RPC_SERVICE_H_
