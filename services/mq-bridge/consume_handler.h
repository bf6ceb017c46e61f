#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_CONSUME_HANDLER_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_CONSUME_HANDLER_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "services/common/bidi_stream.h"
#include "services/mq-bridge/transport_source.h"
#include "switchboard/v1/bridge.pb.h"

namespace switchboard::bridge {

// Bridge.Consume: the first request opens a subscription, on the transport
// of the moment, to the named queues with a prefetch of 1 to 65535
// (InvalidArgument otherwise; FailedPrecondition for an ack or nack first,
// or a second open); later ones ack or nack its deliveries. Any error ends
// the stream with it. Responses are switchboard.v1.ConsumeResponse written
// straight from the transport's deliveries (delivery_encoding.h). The end of
// a stream returns its unacked deliveries to their queues. Deliveries are
// bounded by the prefetch window, and reading acks is what frees the
// window: a Consume stream never stops reading. Thread-safe.
class ConsumeHandler {
 public:
  explicit ConsumeHandler(TransportSource transport);

  // A new stream. `refused`: it ends with that status at once (the caller
  // may not use the bridge).
  grpc::ServerBidiReactor<switchboard::v1::ConsumeRequest, grpc::ByteBuffer>*
  Open(absl::Status refused);

  // Ends every open stream with `status` (its subscription goes back to
  // its transport); new ones are still accepted. A reload ends them before
  // their transport goes away.
  void EndAll(const absl::Status& status);
  // Ends every open stream (UNAVAILABLE) and refuses new ones: shutdown.
  void CloseAll() { streams_.CloseAll(); }

 private:
  const TransportSource transport_;
  StreamSet streams_;
};

}  // namespace switchboard::bridge

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_CONSUME_HANDLER_H_
