#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_PRODUCE_HANDLER_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_PRODUCE_HANDLER_H_

#include <cstddef>
#include <memory>

#include "absl/status/status.h"
#include "services/common/bidi_stream.h"
#include "services/mq-bridge/bridge_metrics.h"
#include "services/mq-bridge/transport_source.h"
#include "switchboard/v1/bridge.grpc.pb.h"

namespace switchboard::bridge {

// Bridge.Produce: every request is one batch. Its queues are declared, its
// events handed to the transport of the moment (looked up per batch: a
// reload may swap it), and each batch answered, in order, with its outcome
// and the (event, queue) pairs refused. A failed batch ends the stream
// (ABORTED): nothing after it on the stream was published, and the
// producer sends it and everything after it again on a new stream, keeping
// per-queue order. A stream stops reading while `max_pending_batches`
// answers are queued. Thread-safe.
class ProduceHandler {
 public:
  ProduceHandler(TransportSource transport,
                 std::shared_ptr<ProduceCounters> counters,
                 size_t max_pending_batches);

  // A new stream. `refused`: it ends with that status at once (the caller
  // may not use the bridge).
  grpc::ServerBidiReactor<switchboard::v1::ProduceRequest,
                          switchboard::v1::ProduceResponse>*
  Open(absl::Status refused);

  // Ends every open stream (UNAVAILABLE, after its queued answers) and
  // refuses new ones: shutdown.
  void CloseAll() { streams_.CloseAll(); }

 private:
  const TransportSource transport_;
  const std::shared_ptr<ProduceCounters> counters_;
  const size_t max_pending_batches_;
  StreamSet streams_;
};

}  // namespace switchboard::bridge

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_PRODUCE_HANDLER_H_
