#ifndef SWITCHBOARD_SERVICES_CONSUMER_LINK_WATCH_H_
#define SWITCHBOARD_SERVICES_CONSUMER_LINK_WATCH_H_

// The link view's watch plumbing: WatchLinkStatus calls, which stream the
// statuses the view offers them to their clients without ever blocking on
// a client.

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "switchboard/v1/consumer.grpc.pb.h"

namespace switchboard::consumer {

// What a WatchLinkStatus call has yet to send: per link only the newest
// state, links in the order they became pending. A watcher that reads
// slowly thus costs at most one state per link, however fast links flap.
// Not thread-safe.
class PendingLinkStates {
 public:
  // Queues `state`, or replaces the pending state of its link. A link that
  // is pending as initial stays initial: the watcher has not heard of it
  // yet, and gets its current state.
  void Add(switchboard::v1::LinkState state, bool initial);
  bool empty() const { return order_.empty(); }
  size_t size() const { return order_.size(); }
  // Takes the oldest pending link's state into `out`; false when empty.
  bool Pop(switchboard::v1::WatchLinkStatusResponse* out);

 private:
  absl::flat_hash_map<std::string, switchboard::v1::WatchLinkStatusResponse>
      pending_;
  std::deque<std::string> order_;
};

class LinkWatchCall;

// The part of a watch that the view's notifying thread reaches. It outlives
// the gRPC call (the view holds it until the call's OnDone unregisters it)
// and only touches the call while the call cannot be done: between deciding
// to write and that write's completion, Finish is never called, and OnDone
// only comes after Finish. Thread-safe.
class LinkWatcher {
 public:
  // `only`: the links watched; empty for every link.
  explicit LinkWatcher(absl::flat_hash_set<std::string> only)
      : only_(std::move(only)) {}

  LinkWatcher(const LinkWatcher&) = delete;
  LinkWatcher& operator=(const LinkWatcher&) = delete;

  bool Wants(const std::string& link_id) const {
    return only_.empty() || only_.contains(link_id);
  }

  // A state known when the watch began; queued before the view can notify
  // any change, so the initial states go first.
  void Seed(const switchboard::v1::LinkState& state);

  // Queues a change and writes it if no write is under way. Never blocks
  // on the client: a slow one just has more links pending.
  void Offer(const switchboard::v1::LinkState& state);

  // Starts writing what Seed queued.
  void Kick();

  // Ends the call with `status` once the write under way (if any) is done;
  // what is still pending is not sent. Only the first call counts.
  void Finish(absl::Status status);

 private:
  friend class LinkWatchCall;

  // The call's side.
  void Attach(LinkWatchCall* call);
  void WriteDone(bool ok);
  void Detach();

  void StartNextWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const absl::flat_hash_set<std::string> only_;
  absl::Mutex mu_;
  LinkWatchCall* call_ ABSL_GUARDED_BY(mu_) = nullptr;
  PendingLinkStates pending_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_requested_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status finish_status_ ABSL_GUARDED_BY(mu_);
};

// The links a WatchLinkStatus request names (empty: every link), or
// InvalidArgument for an empty link id.
absl::StatusOr<absl::flat_hash_set<std::string>> WatchedLinks(
    const switchboard::v1::WatchLinkStatusRequest& request);

// A WatchLinkStatus reactor that writes what `watcher` is offered; gRPC
// owns it. `on_done` runs in its OnDone, once `watcher` no longer reaches
// the call (to unregister the watcher).
grpc::ServerWriteReactor<switchboard::v1::WatchLinkStatusResponse>*
NewWatchCall(std::shared_ptr<LinkWatcher> watcher,
             absl::AnyInvocable<void()> on_done);

// A WatchLinkStatus reactor that ends at once with `status` (e.g. when the
// view is off).
grpc::ServerWriteReactor<switchboard::v1::WatchLinkStatusResponse>*
RefusedWatch(const absl::Status& status);

}  // namespace switchboard::consumer

#endif  // SWITCHBOARD_SERVICES_CONSUMER_LINK_WATCH_H_
