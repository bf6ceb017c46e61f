#include "services/consumer/link_watch.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "services/common/grpc_status.h"

namespace switchboard::consumer {

using switchboard::v1::LinkState;
using switchboard::v1::WatchLinkStatusRequest;
using switchboard::v1::WatchLinkStatusResponse;

// ------------------------------------------------------- PendingLinkStates

void PendingLinkStates::Add(LinkState state, bool initial) {
  auto [it, inserted] = pending_.try_emplace(state.link_id());
  if (inserted) {
    order_.push_back(state.link_id());
    it->second.set_initial(initial);
  }
  *it->second.mutable_link() = std::move(state);
}

bool PendingLinkStates::Pop(WatchLinkStatusResponse* out) {
  if (order_.empty()) return false;
  auto it = pending_.find(order_.front());
  *out = std::move(it->second);
  pending_.erase(it);
  order_.pop_front();
  return true;
}

// ---------------------------------------------------------- LinkWatchCall

// One WatchLinkStatus call. gRPC owns it; it deletes itself in OnDone.
class LinkWatchCall final
    : public grpc::ServerWriteReactor<WatchLinkStatusResponse> {
 public:
  LinkWatchCall(std::shared_ptr<LinkWatcher> watcher,
                absl::AnyInvocable<void()> on_done)
      : watcher_(std::move(watcher)), on_done_(std::move(on_done)) {
    watcher_->Attach(this);
  }

  // The response being written; only the writer of the moment touches it.
  WatchLinkStatusResponse response;

 private:
  void OnWriteDone(bool ok) override { watcher_->WriteDone(ok); }

  void OnCancel() override {
    watcher_->Finish(absl::CancelledError("the watch was cancelled"));
  }

  void OnDone() override {
    watcher_->Detach();
    on_done_();
    delete this;
  }

  const std::shared_ptr<LinkWatcher> watcher_;
  absl::AnyInvocable<void()> on_done_;
};

grpc::ServerWriteReactor<WatchLinkStatusResponse>* NewWatchCall(
    std::shared_ptr<LinkWatcher> watcher, absl::AnyInvocable<void()> on_done) {
  return new LinkWatchCall(std::move(watcher), std::move(on_done));
}

// ------------------------------------------------------------ LinkWatcher

void LinkWatcher::Seed(const LinkState& state) {
  absl::MutexLock lock(&mu_);
  pending_.Add(state, /*initial=*/true);
}

void LinkWatcher::Offer(const LinkState& state) {
  absl::MutexLock lock(&mu_);
  if (call_ == nullptr || finish_requested_) return;
  pending_.Add(state, /*initial=*/false);
  StartNextWriteLocked();
}

void LinkWatcher::Kick() {
  absl::MutexLock lock(&mu_);
  if (call_ == nullptr || finish_requested_) return;
  StartNextWriteLocked();
}

void LinkWatcher::Attach(LinkWatchCall* call) {
  absl::MutexLock lock(&mu_);
  call_ = call;
}

void LinkWatcher::Detach() {
  absl::MutexLock lock(&mu_);
  call_ = nullptr;
}

// StartWrite and Finish under mu_ are safe: gRPC never runs a server
// reactor's OnWriteDone inline, nor OnDone of a reactor that is not
// InternalInlineable (which takes mu_ in Detach); and a write or finish
// started before gRPC has bound the reactor is kept until it does.
void LinkWatcher::StartNextWriteLocked() {
  if (writing_ || !pending_.Pop(&call_->response)) return;
  writing_ = true;
  call_->StartWrite(&call_->response);
}

void LinkWatcher::Finish(absl::Status status) {
  absl::MutexLock lock(&mu_);
  if (call_ == nullptr || finish_requested_) return;
  finish_requested_ = true;
  finish_status_ = std::move(status);
  if (!writing_) call_->Finish(ToGrpcStatus(finish_status_));
  // Otherwise WriteDone finishes.
}

void LinkWatcher::WriteDone(bool ok) {
  absl::MutexLock lock(&mu_);
  writing_ = false;
  if (!ok && !finish_requested_) {
    finish_requested_ = true;
    finish_status_ = absl::CancelledError("the client went away");
  }
  if (finish_requested_) {
    call_->Finish(ToGrpcStatus(finish_status_));
    return;
  }
  StartNextWriteLocked();
}

// ------------------------------------------------------------- the request

absl::StatusOr<absl::flat_hash_set<std::string>> WatchedLinks(
    const WatchLinkStatusRequest& request) {
  absl::flat_hash_set<std::string> only;
  for (int i = 0; i < request.link_ids_size(); ++i) {
    if (request.link_ids(i).empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("link_ids[", i, "] is empty"));
    }
    only.insert(request.link_ids(i));
  }
  return only;
}

// ------------------------------------------------------------ RefusedWatch

namespace {

// Ends at once; used when a watch cannot start.
class RefusedWatchCall final
    : public grpc::ServerWriteReactor<WatchLinkStatusResponse> {
 public:
  explicit RefusedWatchCall(const absl::Status& status) {
    Finish(ToGrpcStatus(status));
  }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerWriteReactor<WatchLinkStatusResponse>* RefusedWatch(
    const absl::Status& status) {
  return new RefusedWatchCall(status);
}

}  // namespace switchboard::consumer
