#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_DELIVERY_ENCODING_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_DELIVERY_ENCODING_H_

// The bridge's Consume responses, written straight from the transport's
// deliveries: no switchboard.v1.Delivery objects, and each event's bytes
// copied once, into the buffer gRPC sends.

#include <grpcpp/support/byte_buffer.h>

#include "absl/types/span.h"
#include "services/mq-bridge/transport/transport.h"

namespace switchboard::bridge {

// `batch` as a serialized switchboard.v1.ConsumeResponse, byte for byte what
// the generated code would write for the same deliveries (so any client
// reads it as that type), in one slice. Thread-safe.
grpc::ByteBuffer EncodeConsumeResponse(absl::Span<const Delivery> batch);

}  // namespace switchboard::bridge

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_DELIVERY_ENCODING_H_
