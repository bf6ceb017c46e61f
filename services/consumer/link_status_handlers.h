#ifndef SWITCHBOARD_SERVICES_CONSUMER_LINK_STATUS_HANDLERS_H_
#define SWITCHBOARD_SERVICES_CONSUMER_LINK_STATUS_HANDLERS_H_

// The handlers of the three link-status RPCs, one class each. They read
// the same LinkView and share its one refusal: with the view off
// (links.queue_prefix empty) each answers FAILED_PRECONDITION.

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "services/consumer/link_view.h"
#include "switchboard/v1/consumer.pb.h"

namespace switchboard::consumer {

// Consumer.GetLinkStatus: the newest status of one link (LinkView::Get).
// Thread-safe.
class GetLinkStatusHandler {
 public:
  // `view` (null: off) must outlive the handler.
  explicit GetLinkStatusHandler(LinkView* view) : view_(view) {}

  // Fills `response`; on error leaves it as it is.
  absl::Status Handle(const switchboard::v1::GetLinkStatusRequest& request,
                      switchboard::v1::LinkState* response) const;

 private:
  LinkView* const view_;
};

// Consumer.ListLinkStatus: every link's newest status, sorted by link id.
// Thread-safe.
class ListLinkStatusHandler {
 public:
  // `view` (null: off) must outlive the handler.
  explicit ListLinkStatusHandler(LinkView* view) : view_(view) {}

  // Fills `response`; on error leaves it as it is.
  absl::Status Handle(const switchboard::v1::ListLinkStatusRequest& request,
                      switchboard::v1::ListLinkStatusResponse* response) const;

 private:
  LinkView* const view_;
};

// Consumer.WatchLinkStatus: the current status of the chosen links, then
// every change (LinkView::Watch). Thread-safe.
class WatchLinkStatusHandler {
 public:
  // `view` (null: off) must outlive the handler and every watch it opens.
  explicit WatchLinkStatusHandler(LinkView* view) : view_(view) {}

  // A new watch. `refused`: it ends with that status at once (the caller
  // may not read).
  grpc::ServerWriteReactor<switchboard::v1::WatchLinkStatusResponse>* Open(
      absl::Status refused,
      const switchboard::v1::WatchLinkStatusRequest& request);

 private:
  LinkView* const view_;
};

}  // namespace switchboard::consumer

#endif  // SWITCHBOARD_SERVICES_CONSUMER_LINK_STATUS_HANDLERS_H_
