#ifndef SWITCHBOARD_SERVICES_CONSUMER_SUBSCRIBE_HANDLER_H_
#define SWITCHBOARD_SERVICES_CONSUMER_SUBSCRIBE_HANDLER_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "absl/status/statusor.h"
#include "services/common/auth_policy.h"
#include "services/common/bidi_stream.h"
#include "services/consumer/bridge_call.h"
#include "services/consumer/consumer_config.h"
#include "services/consumer/dedup_window.h"
#include "services/consumer/relay.pb.h"
#include "services/consumer/timer_worker.h"
#include "switchboard/v1/bridge.grpc.pb.h"
#include "switchboard/v1/consumer.pb.h"

namespace switchboard::consumer {

// Consumer.Subscribe: each stream is relayed to one bridge Consume stream
// (BridgeCall), so its credit window is the bridge's prefetch. The first
// request opens the subscription: named queues, each valid, allowed to the
// subscriber and not a link-status queue; a credit of at most max_credit
// (0: default_credit); an ack deadline (0: the configured one); and the
// events the app acked before a reconnect (open.acked), recorded as acked.
// Later requests ack, nack (requeued at once or after a delay) or extend
// the deliveries the app holds, or close the stream; a tag that went stale
// (given back at its ack deadline, or after a delayed nack) is answered in
// stale_tags. Any error ends the stream with it. The end of a stream
// returns what the app holds unacked to its queues. Thread-safe.
class SubscribeHandler {
 public:
  // What every subscription uses; each must outlive the handler and every
  // stream it opens.
  struct Resources {
    const ConsumerConfig* config;
    switchboard::v1::Bridge::Stub* bridge;
    DedupWindows* dedup;
    BridgeCalls* bridge_calls;
    TimerWorker* timers;
  };

  explicit SubscribeHandler(Resources resources) : resources_(resources) {}

  // A new stream for the subscriber `who` (null: auth off). Not OK: it ends
  // with that status at once. `auth` (null: auth off) refuses the queues
  // `who` may not subscribe to; it must outlive the stream.
  grpc::ServerBidiReactor<switchboard::v1::SubscribeRequest,
                          relay::SubscribeResponse>*
  Open(AuthPolicy* auth, absl::StatusOr<std::shared_ptr<const Identity>> who);

  // Ends every open stream (UNAVAILABLE) and refuses new ones: shutdown.
  void CloseAll() { streams_.CloseAll(); }

 private:
  const Resources resources_;
  StreamSet streams_;
};

}  // namespace switchboard::consumer

#endif  // SWITCHBOARD_SERVICES_CONSUMER_SUBSCRIBE_HANDLER_H_
