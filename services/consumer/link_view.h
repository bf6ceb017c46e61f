#ifndef SWITCHBOARD_SERVICES_CONSUMER_LINK_VIEW_H_
#define SWITCHBOARD_SERVICES_CONSUMER_LINK_VIEW_H_

// The consumer's link view, made of three parts:
//  - link_view_core.h: the state (each link's newest status), its queries,
//    and the watchers it notifies;
//  - link_stream.h: the reader of the link queues, which feeds the core;
//  - link_watch.h: the WatchLinkStatus calls.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/consumer/link_stream.h"
#include "services/consumer/link_view_core.h"
#include "services/consumer/link_watch.h"
#include "switchboard/v1/consumer.grpc.pb.h"

namespace switchboard::consumer {

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

  LinkView(const LinkView&) = delete;
  LinkView& operator=(const LinkView&) = delete;

  // Starts the background thread.
  void Start();
  // Ends every watch, stops the background thread and closes the stream
  // (the held deliveries go back to their queues). The statuses stay
  // readable. Idempotent; not concurrent with Start.
  void Stop();

  // The newest status of `link_id`: InvalidArgument when empty, NotFound
  // when no status of it has been seen.
  absl::StatusOr<switchboard::v1::LinkState> Get(
      absl::string_view link_id) const {
    return core_.Get(link_id);
  }
  // Every link's newest status, sorted by link id.
  std::vector<switchboard::v1::LinkState> List() const { return core_.List(); }
  // A WatchLinkStatus call; gRPC owns the reactor.
  grpc::ServerWriteReactor<switchboard::v1::WatchLinkStatusResponse>* Watch(
      const switchboard::v1::WatchLinkStatusRequest& request);

  LinkViewCounters counters() const { return core_.counters(); }

 private:
  // Declared first: the stream feeds it until destroyed.
  LinkViewCore core_;
  LinkStream stream_;
};

}  // namespace switchboard::consumer

#endif  // SWITCHBOARD_SERVICES_CONSUMER_LINK_VIEW_H_
