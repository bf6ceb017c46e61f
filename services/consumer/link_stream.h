#ifndef SWITCHBOARD_SERVICES_CONSUMER_LINK_STREAM_H_
#define SWITCHBOARD_SERVICES_CONSUMER_LINK_STREAM_H_

// The link view's reader: its Consume stream to the bridge over the link
// queues, which keeps each link's newest status unacked and acks the
// deliveries it supersedes.

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/consumer/link_view_core.h"
#include "switchboard/v1/bridge.grpc.pb.h"

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

// Feeds a LinkViewCore from the link queues (`<queue_prefix><id>`, the
// last-value queues the broadcaster fills) on one Consume stream to the
// bridge, acking what the core says is superseded.
//
// A background thread reads the bridge's queue list every
// discovery_interval and, when link queues appear (or the stream broke),
// reopens the one stream over all of them (a ClientBidiStream: its
// deliveries are applied on gRPC's threads). Closing the stream hands the
// held deliveries back to their queues. Thread-safe.
class LinkStream {
 public:
  // `channel` leads to the bridge; `core` outlives the stream. The config
  // must be valid, with a non-empty prefix.
  LinkStream(LinkViewConfig config, std::shared_ptr<grpc::Channel> channel,
             LinkViewCore* core);
  ~LinkStream();

  LinkStream(const LinkStream&) = delete;
  LinkStream& operator=(const LinkStream&) = delete;

  // Starts the background thread.
  void Start();
  // Stops the background thread and closes the stream (the held deliveries
  // go back to their queues). Idempotent; not concurrent with Start.
  void Stop();

 private:
  class ConsumeCall;

  // The background thread.
  void Run();
  // Reads the queue list; (re)opens the stream when needed.
  absl::Status Discover();
  // The link queues among the bridge's, sorted.
  std::vector<std::string> LinkQueues(
      const switchboard::v1::GetQueueStatsResponse& response);
  absl::Status OpenStream(std::vector<std::string> queues);
  // Half-closes the stream, so the bridge gets every ack before it puts the
  // held deliveries back, and waits for its end.
  void CloseStream();
  // Makes `context` cancellable by Stop while an RPC is under way; false
  // (start nothing) once stopping.
  bool BeginRpc(grpc::ClientContext* context);
  void EndRpc();

  const LinkViewConfig config_;
  const std::unique_ptr<switchboard::v1::Bridge::Stub> bridge_;
  LinkViewCore* const core_;
  std::thread thread_;

  // Owned by the background thread (and by Stop once it has joined it).
  std::unique_ptr<ConsumeCall> stream_;
  std::vector<std::string> stream_queues_;  // sorted
  // Queues with the prefix that are not last-value queues, logged once.
  absl::flat_hash_set<std::string> skipped_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* rpc_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace switchboard::consumer

#endif  // SWITCHBOARD_SERVICES_CONSUMER_LINK_STREAM_H_
