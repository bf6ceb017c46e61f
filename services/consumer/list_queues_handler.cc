#include "services/consumer/list_queues_handler.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/common/grpc_status.h"

namespace switchboard::consumer {
namespace {

// One GetQueueStats call to the bridge; deleted once answered.
struct Call {
  grpc::ClientContext context;
  switchboard::v1::GetQueueStatsRequest request;
  switchboard::v1::GetQueueStatsResponse response;
};

void CopyStats(const switchboard::v1::GetQueueStatsResponse& stats,
               switchboard::v1::ListQueuesResponse* response) {
  for (const auto& q : stats.queues()) {
    auto* out = response->add_queues();
    out->set_name(q.name());
    out->set_depth(q.depth());
    out->set_unacked(q.unacked());
    out->set_subscribers(q.consumers());
    out->set_last_value(q.last_value());
    out->set_dropped(q.dropped());
    out->set_rejected(q.rejected());
    out->set_expired(q.expired());
    out->set_dead_lettered(q.dead_lettered());
  }
}

}  // namespace

void ListQueuesHandler::Handle(
    const switchboard::v1::ListQueuesRequest& request,
    switchboard::v1::ListQueuesResponse* response,
    std::function<void(absl::Status)> done) const {
  auto* call = new Call;
  *call->request.mutable_queues() = request.queues();
  call->context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(10));
  bridge_->async()->GetQueueStats(
      &call->context, &call->request, &call->response,
      [call, response, done = std::move(done)](grpc::Status status) {
        if (status.ok()) {
          CopyStats(call->response, response);
        } else if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                   status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
          status = grpc::Status(status.error_code(),
                                absl::StrCat("the bridge is unreachable: ",
                                             status.error_message()));
        }
        delete call;
        done(FromGrpcStatus(status));
      });
}

}  // namespace switchboard::consumer
