#ifndef SWITCHBOARD_SERVICES_BROADCASTER_REGIONS_SERVICE_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_REGIONS_SERVICE_H_

#include <functional>

#include "services/broadcaster/region_tracker.h"
#include "services/common/auth_policy.h"
#include "switchboard/v1/regions.grpc.pb.h"

namespace switchboard::broadcaster {

// switchboard.v1.Regions: the northbound view of a RegionTracker, for
// monitoring tools and grpcurl. Thread-safe; does not own the tracker.
class RegionsService final : public switchboard::v1::Regions::CallbackService {
 public:
  // `enabled` tells whether tracking is on (it can change on reload).
  RegionsService(const RegionTracker* tracker, std::function<bool()> enabled)
      : tracker_(tracker), enabled_(std::move(enabled)) {}

  // Before the server starts: every RPC then needs `read`.
  void SetAuthPolicy(std::shared_ptr<AuthPolicy> auth) {
    auth_ = std::move(auth);
  }

  grpc::ServerUnaryReactor* GetSwitchConnections(
      grpc::CallbackServerContext* context,
      const switchboard::v1::GetSwitchConnectionsRequest* request,
      switchboard::v1::SwitchConnections* response) override;
  grpc::ServerUnaryReactor* ListSwitchConnections(
      grpc::CallbackServerContext* context,
      const switchboard::v1::ListSwitchConnectionsRequest* request,
      switchboard::v1::ListSwitchConnectionsResponse* response) override;
  grpc::ServerUnaryReactor* ListRegions(
      grpc::CallbackServerContext* context,
      const switchboard::v1::ListRegionsRequest* request,
      switchboard::v1::ListRegionsResponse* response) override;

 private:
  // The caller may read, and tracking is on (else FAILED_PRECONDITION).
  grpc::Status Check(const grpc::CallbackServerContext& context) const;

  const RegionTracker* const tracker_;
  const std::function<bool()> enabled_;
  std::shared_ptr<AuthPolicy> auth_;
};

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_REGIONS_SERVICE_H_
