#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_ZEROMQ_ZEROMQ_WIRE_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_ZEROMQ_ZEROMQ_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace switchboard::bridge::zeromq {

// What the zeromq driver puts on the wire.
//
// A data message is the multipart message [queue name, header, event id,
// payload], the queue name being the ZeroMQ topic; one is sent per queue
// an event names. A control message is [empty topic, header, the
// publisher's bound endpoint]: it greets new subscribers and is repeated
// every heartbeat.
//
// The header (kHeaderSize, 18 bytes) is a version (kProtocolVersion),
// flags (bit 0: the queue is last-value; other bits are ignored), the
// publisher's random 64-bit id and its sequence number, both big-endian.
// One sequence counts every message (data and control) of a publisher, so
// a receiver sees every gap.

inline constexpr char kProtocolVersion = 1;
// version, flags, publisher id, sequence number.
inline constexpr size_t kHeaderSize = 1 + 1 + 8 + 8;
inline constexpr char kFlagLastValue = 1;

// The frames of a message, by position.
inline constexpr size_t kTopicFrame = 0;
inline constexpr size_t kHeaderFrame = 1;
inline constexpr size_t kIdFrame = 2;
inline constexpr size_t kPayloadFrame = 3;
inline constexpr size_t kEndpointFrame = 2;  // of a control message
inline constexpr size_t kDataFrames = 4;
inline constexpr size_t kControlFrames = 3;

struct WireHeader {
  bool last_value = false;
  uint64_t publisher_id = 0;
  uint64_t seq = 0;

  friend bool operator==(const WireHeader& a, const WireHeader& b) {
    return a.last_value == b.last_value && a.publisher_id == b.publisher_id &&
           a.seq == b.seq;
  }
  friend bool operator!=(const WireHeader& a, const WireHeader& b) {
    return !(a == b);
  }
};

// The header frame's kHeaderSize bytes.
std::string EncodeHeader(const WireHeader& header);
// InvalidArgument, saying why, unless `bytes` is exactly kHeaderSize bytes
// of protocol version kProtocolVersion.
absl::StatusOr<WireHeader> DecodeHeader(absl::string_view bytes);

// The header of a received message (its frame kHeaderFrame).
// InvalidArgument when it has fewer frames or the header is not one.
absl::StatusOr<WireHeader> DecodeMessageHeader(
    absl::Span<const std::string> frames);
// A control message: its topic is empty (its header is all it says).
bool IsControlMessage(absl::Span<const std::string> frames);
// InvalidArgument unless `frames` is a data message: kDataFrames frames,
// the topic a valid queue name.
absl::Status ValidateDataMessage(absl::Span<const std::string> frames);

}  // namespace switchboard::bridge::zeromq

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_ZEROMQ_ZEROMQ_WIRE_H_
