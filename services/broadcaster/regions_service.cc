#include "services/broadcaster/regions_service.h"

#include "absl/strings/str_cat.h"
#include "services/common/grpc_status.h"

namespace switchboard::broadcaster {
namespace {

grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context,
                                 grpc::Status status) {
  auto* reactor = context->DefaultReactor();
  reactor->Finish(std::move(status));
  return reactor;
}

}  // namespace

grpc::Status RegionsService::Check(
    const grpc::CallbackServerContext& context) const {
  if (absl::Status s = CheckAccess(auth_.get(), context, Action::kRead);
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  if (enabled_()) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                      "switch connection tracking is off in this broadcaster "
                      "(regions.enabled: false)");
}

grpc::ServerUnaryReactor* RegionsService::GetSwitchConnections(
    grpc::CallbackServerContext* context,
    const switchboard::v1::GetSwitchConnectionsRequest* request,
    switchboard::v1::SwitchConnections* response) {
  if (grpc::Status s = Check(*context); !s.ok()) return Finish(context, s);
  if (request->switch_id().empty()) {
    return Finish(context, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                        "switch_id is empty"));
  }
  auto found = tracker_->GetSwitch(request->switch_id(), absl::Now());
  if (!found.has_value()) {
    return Finish(context,
                  grpc::Status(grpc::StatusCode::NOT_FOUND,
                               absl::StrCat("no region reported switch '",
                                            request->switch_id(),
                                            "' (or its grace period ended)")));
  }
  *response = *std::move(found);
  return Finish(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* RegionsService::ListSwitchConnections(
    grpc::CallbackServerContext* context,
    const switchboard::v1::ListSwitchConnectionsRequest* request,
    switchboard::v1::ListSwitchConnectionsResponse* response) {
  if (grpc::Status s = Check(*context); !s.ok()) return Finish(context, s);
  for (auto& s : tracker_->ListSwitches(request->region(), absl::Now())) {
    *response->add_switches() = std::move(s);
  }
  return Finish(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* RegionsService::ListRegions(
    grpc::CallbackServerContext* context,
    const switchboard::v1::ListRegionsRequest* request,
    switchboard::v1::ListRegionsResponse* response) {
  if (grpc::Status s = Check(*context); !s.ok()) return Finish(context, s);
  for (auto& r : tracker_->ListRegions()) {
    *response->add_regions() = std::move(r);
  }
  return Finish(context, grpc::Status::OK);
}

}  // namespace switchboard::broadcaster
