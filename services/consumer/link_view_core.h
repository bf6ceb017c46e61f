#ifndef SWITCHBOARD_SERVICES_CONSUMER_LINK_VIEW_CORE_H_
#define SWITCHBOARD_SERVICES_CONSUMER_LINK_VIEW_CORE_H_

// The link view's state: the newest status of every link, the delivery
// that holds it, and the watches that hear of its changes.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "services/consumer/link_watch.h"
#include "switchboard/v1/bridge.pb.h"
#include "switchboard/v1/consumer.pb.h"

namespace switchboard::consumer {

// What has happened in a view, for logs and tests.
struct LinkViewCounters {
  // Consume streams opened on the link queues.
  uint64_t streams_opened = 0;
  // Statuses that replaced an older one (or were the first of their link).
  uint64_t updates = 0;
  // Deliveries older than the status held, discarded.
  uint64_t stale = 0;
  // Deliveries that were not a link status, discarded.
  uint64_t invalid = 0;
  // WatchLinkStatus calls open now.
  uint64_t watches = 0;
};

// The newest status of every link, from the deliveries of the link queues,
// each held by its (unacked) delivery; and the watchers notified of each
// change. Thread-safe.
class LinkViewCore {
 public:
  // The newest status of `link_id`: InvalidArgument when empty, NotFound
  // when no status of it has been seen.
  absl::StatusOr<switchboard::v1::LinkState> Get(
      absl::string_view link_id) const;
  // Every link's newest status, sorted by link id.
  std::vector<switchboard::v1::LinkState> List() const;

  LinkViewCounters counters() const;
  // Counts a Consume stream opened on the link queues.
  void CountStreamOpened();

  // Applies the deliveries of the stream numbered `generation` (from 1; a
  // stream's tags mean nothing on another) and notifies the watchers of
  // what changed, in order as long as one stream's response handler at a
  // time applies. Returns the tags to ack: the deliveries superseded, stale or
  // not a link status.
  std::vector<uint64_t> Apply(const switchboard::v1::ConsumeResponse& response,
                              uint64_t generation);

  // Queues the current state of every link `watcher` wants (Seed) and
  // registers it for the changes after that. Once closed, ends the watch
  // (Unavailable) instead and returns false.
  bool AddWatcher(std::shared_ptr<LinkWatcher> watcher);
  void RemoveWatcher(LinkWatcher* watcher);
  // Ends every watch (Unavailable) and refuses new ones. The statuses stay
  // readable, and deliveries are still applied. Repeatable.
  void Close();

 private:
  // A link's newest status and the delivery that keeps it in its queue.
  struct Held {
    switchboard::v1::LinkState state;
    // The unacked delivery; only valid on the stream of `generation` (a
    // stream's tags mean nothing on another).
    uint64_t tag = 0;
    uint64_t generation = 0;
  };
  // A delivery that reports a link status.
  struct Report;

  // The deliveries of `response` that report a link status; the tags of
  // the others go to `acks`.
  static std::vector<Report> ReadReports(
      const switchboard::v1::ConsumeResponse& response,
      std::vector<uint64_t>* acks);
  // Applies one report of the stream `generation` to its link: what is to
  // be acked goes to `acks`, the link's new status (if it changed) to
  // `changes`.
  void ApplyLocked(Report& report, uint64_t generation,
                   std::vector<uint64_t>* acks,
                   std::vector<switchboard::v1::LinkState>* changes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, Held> links_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<LinkWatcher*, std::shared_ptr<LinkWatcher>> watchers_
      ABSL_GUARDED_BY(mu_);
  LinkViewCounters counters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard::consumer

#endif  // SWITCHBOARD_SERVICES_CONSUMER_LINK_VIEW_CORE_H_
