#include "services/consumer/link_status_handlers.h"

#include <utility>

#include "absl/status/statusor.h"
#include "services/consumer/link_watch.h"

namespace switchboard::consumer {
namespace {

absl::Status LinkViewOff() {
  return absl::FailedPreconditionError(
      "the link view is off (links.queue_prefix is empty in the consumer's "
      "config)");
}

}  // namespace

absl::Status GetLinkStatusHandler::Handle(
    const switchboard::v1::GetLinkStatusRequest& request,
    switchboard::v1::LinkState* response) const {
  if (view_ == nullptr) return LinkViewOff();
  absl::StatusOr<switchboard::v1::LinkState> state =
      view_->Get(request.link_id());
  if (!state.ok()) return state.status();
  *response = *std::move(state);
  return absl::OkStatus();
}

absl::Status ListLinkStatusHandler::Handle(
    const switchboard::v1::ListLinkStatusRequest& request,
    switchboard::v1::ListLinkStatusResponse* response) const {
  if (view_ == nullptr) return LinkViewOff();
  for (auto& state : view_->List()) {
    *response->add_links() = std::move(state);
  }
  return absl::OkStatus();
}

grpc::ServerWriteReactor<switchboard::v1::WatchLinkStatusResponse>*
WatchLinkStatusHandler::Open(
    absl::Status refused,
    const switchboard::v1::WatchLinkStatusRequest& request) {
  if (!refused.ok()) return RefusedWatch(refused);
  if (view_ == nullptr) return RefusedWatch(LinkViewOff());
  return view_->Watch(request);
}

}  // namespace switchboard::consumer
