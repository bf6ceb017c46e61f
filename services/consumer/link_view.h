#ifndef SWITCHBOARD_SERVICES_CONSUMER_LINK_VIEW_H_
#define SWITCHBOARD_SERVICES_CONSUMER_LINK_VIEW_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "switchboard/v1/bridge.grpc.pb.h"
#include "switchboard/v1/consumer.grpc.pb.h"

namespace switchboard::consumer {

// The `links` section of consumer.yaml.
struct LinkViewConfig {
  // Prefix of the per-link last-value queues; "" turns the view off.
  std::string queue_prefix = "link.";
  // How often the bridge's queue list is read to find new link queues.
  absl::Duration discovery_interval = absl::Seconds(1);
  // Retry delays while the bridge is unreachable, doubling. Not in the
  // config file: the broadcaster's reconnect defaults serve here too.
  absl::Duration backoff_initial = absl::Milliseconds(100);
  absl::Duration backoff_max = absl::Seconds(5);
};

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

// The newest status of every link, read from the per-link last-value queues
// (`link.<id>`) the broadcaster fills.
//
// The view holds each link's newest status by keeping its delivery unacked
// on one Consume stream to the bridge, and acks the deliveries it
// supersedes. Nothing is stored elsewhere: when this process ends (even by
// kill -9) the bridge puts the held deliveries back in their queues, and the
// next consumer rebuilds the same view from them.
//
// A background thread reads the bridge's queue list every
// discovery_interval and, when link queues appear (or the stream broke),
// reopens the one stream over all of them. Thread-safe.
class LinkView {
 public:
  // `channel` leads to the bridge. The config must be valid, with a
  // non-empty prefix.
  LinkView(LinkViewConfig config, std::shared_ptr<grpc::Channel> channel);
  ~LinkView();

  // Starts the background thread.
  void Start();
  // Ends every watch, stops the background thread and closes the stream
  // (the held deliveries go back to their queues). The statuses stay
  // readable. Idempotent; not concurrent with Start.
  void Stop();

  // The newest status of `link_id`: InvalidArgument when empty, NotFound
  // when no status of it has been seen.
  absl::StatusOr<switchboard::v1::LinkState> Get(
      absl::string_view link_id) const;
  // Every link's newest status, sorted by link id.
  std::vector<switchboard::v1::LinkState> List() const;
  // A WatchLinkStatus call; gRPC owns the reactor.
  grpc::ServerWriteReactor<switchboard::v1::WatchLinkStatusResponse>* Watch(
      const switchboard::v1::WatchLinkStatusRequest& request);

  LinkViewCounters counters() const;

 private:
  class Watcher;
  class WatchCall;
  struct ConsumeCall;

  // A link's newest status and the delivery that keeps it in its queue.
  struct Held {
    switchboard::v1::LinkState state;
    // The unacked delivery; only valid on the stream of `generation` (a
    // stream's tags mean nothing on another).
    uint64_t tag = 0;
    uint64_t generation = 0;
  };

  // The background thread.
  void Run();
  // Reads the queue list; (re)opens the stream when needed.
  absl::Status Discover();
  absl::Status OpenStream(std::vector<std::string> queues);
  // Half-closes the stream, so the bridge gets every ack before it puts the
  // held deliveries back, and waits for its reader thread.
  void CloseStream();
  // The reader thread of one stream.
  void ReadStream(ConsumeCall* call);
  // Applies deliveries; returns the tags to ack.
  std::vector<uint64_t> Apply(switchboard::v1::ConsumeResponse& response,
                              uint64_t generation);
  // Makes `context` cancellable by Stop while an RPC is under way; false
  // (start nothing) once stopping.
  bool BeginRpc(grpc::ClientContext* context);
  void EndRpc();
  void RemoveWatcher(Watcher* watcher);

  const LinkViewConfig config_;
  const std::unique_ptr<switchboard::v1::Bridge::Stub> bridge_;
  std::thread thread_;

  // Owned by the background thread (and by Stop once it has joined it).
  std::unique_ptr<ConsumeCall> stream_;
  std::vector<std::string> stream_queues_;  // sorted
  // Queues with the prefix that are not last-value queues, logged once.
  absl::flat_hash_set<std::string> skipped_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* rpc_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, Held> links_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<Watcher*, std::shared_ptr<Watcher>> watchers_
      ABSL_GUARDED_BY(mu_);
  LinkViewCounters counters_ ABSL_GUARDED_BY(mu_);
};

// A WatchLinkStatus reactor that ends at once with `status` (e.g. when the
// view is off).
grpc::ServerWriteReactor<switchboard::v1::WatchLinkStatusResponse>*
RefusedWatch(const absl::Status& status);

}  // namespace switchboard::consumer

#endif  // SWITCHBOARD_SERVICES_CONSUMER_LINK_VIEW_H_
