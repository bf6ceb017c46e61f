#ifndef SWITCHBOARD_SERVICES_COMMON_WIRE_WIRE_CHECK_H_
#define SWITCHBOARD_SERVICES_COMMON_WIRE_WIRE_CHECK_H_

// Checks serialized protobuf bytes without parsing them into a message, for
// services that relay bytes (the consumer hands each event to apps as the
// bytes the bridge delivered).

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "google/protobuf/descriptor.h"

namespace switchboard::wire {

// Whether `bytes` would parse as a message of `type` with the C++ parser of
// the generated code: well-formed wire format (tags, varints, lengths within
// bounds, groups closed), valid UTF-8 in every proto3 string field (map
// keys and values included), and the same for every nested message of a
// known field, to the parser's default recursion limit (100). Unknown
// fields, and known fields with another wire type, are skipped as the
// parser keeps them as unknown fields. Allocates nothing; thread-safe.
//
// INVALID_ARGUMENT naming the first field path that fails, e.g.
// "attributes.value: invalid UTF-8".
absl::Status CheckMessage(const google::protobuf::Descriptor& type,
                          absl::string_view bytes);

// The top-level google.protobuf.Timestamp field `field_number` of a
// serialized message, as Unix nanoseconds (the last occurrence wins, as in
// a parse; its fields merge likewise). nullopt when absent or unreadable.
// Reads only that field.
absl::optional<int64_t> TimestampNanos(absl::string_view bytes,
                                       int field_number);

}  // namespace switchboard::wire

#endif  // SWITCHBOARD_SERVICES_COMMON_WIRE_WIRE_CHECK_H_
