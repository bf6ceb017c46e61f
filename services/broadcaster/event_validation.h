#ifndef SWITCHBOARD_SERVICES_BROADCASTER_EVENT_VALIDATION_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_EVENT_VALIDATION_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "switchboard/v1/event.pb.h"

namespace switchboard::broadcaster {

// Bounds on every field a producer sets. Every event passes through
// ValidateEvent before anything else looks at it, so no later stage (queue
// names, AMQP properties, the link view, JSON readers) meets a value it
// cannot carry. The limits fit AMQP 0-9-1 short strings (255 bytes) with
// room to spare.
inline constexpr size_t kMaxIdLength = 128;
inline constexpr size_t kMaxSourceLength = 150;
inline constexpr size_t kMaxTypeLength = 255;
inline constexpr size_t kMaxSubjectLength = 255;
inline constexpr size_t kMaxAttributes = 64;
inline constexpr size_t kMaxAttributeKeyLength = 128;
inline constexpr size_t kMaxAttributeValueLength = 4096;
inline constexpr int kMaxStructDepth = 32;
inline constexpr size_t kMaxSwitchIdLength = 128;
inline constexpr size_t kMaxRegionLength = 64;
inline constexpr size_t kMaxIpLength = 64;
inline constexpr size_t kMaxLinkIdLength = 255;
inline constexpr size_t kMaxCommandNameLength = 255;
inline constexpr int kMaxTargetSwitches = 10000;
// Sequences stay exact in JSON (2^53), and far from wrapping when the
// broadcaster numbers after a producer's own.
inline constexpr uint64_t kMaxSequence = uint64_t{1} << 53;

// How far an event's own time may be from the broadcaster's clock.
struct TimeBounds {
  // Later than now + max_ahead is refused (a link status dated 2099 would
  // otherwise supersede every later one in the link view).
  absl::Duration max_ahead = absl::Minutes(5);
  // Earlier than now - max_behind is refused.
  absl::Duration max_behind = absl::Hours(24 * 7);
};

// Checks an event as a producer sent it: required fields, lengths,
// character sets, time, sequence, attributes, Struct depth and the typed
// payloads' fields. InvalidArgument whose message starts with the field's
// name, e.g. "id is 300 characters; the limit is 128". (The serialized
// size is checked separately, on the bytes.)
absl::Status ValidateEvent(const switchboard::v1::Event& event,
                           const TimeBounds& time_bounds, absl::Time now);

// True for 1..max characters from printable ASCII without space
// (0x21..0x7E): safe in logs, AMQP properties, headers and file names.
bool IsToken(absl::string_view text, size_t max);

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_EVENT_VALIDATION_H_
