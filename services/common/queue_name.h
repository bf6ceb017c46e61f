#ifndef SWITCHBOARD_SERVICES_COMMON_QUEUE_NAME_H_
#define SWITCHBOARD_SERVICES_COMMON_QUEUE_NAME_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace switchboard {

// Longest queue name: AMQP allows 255 bytes; the rest is kept for prefixes
// such as a dead-letter suffix.
inline constexpr size_t kMaxQueueNameLength = 200;

// OK when `name` is 1 to kMaxQueueNameLength characters from
// [A-Za-z0-9._:-], the characters every driver accepts as they are.
absl::Status ValidateQueueName(absl::string_view name);

// Longest prefix QueueNameFor takes: its hashed names keep the whole prefix.
inline constexpr size_t kMaxQueueNamePrefixLength = kMaxQueueNameLength - 18;

// OK when `prefix` can start the names QueueNameFor makes: a valid start of
// a queue name of at most kMaxQueueNamePrefixLength characters. (A longer
// one would be cut from hashed names, which would then not start with it.)
absl::Status ValidateQueueNamePrefix(absl::string_view prefix);

// The queue name for free text (an app's source such as "kytos/topology",
// a link id): `prefix` + the text made queue-safe. The mapping is
// one-to-one, so two different texts never share a queue:
//  - text of only [A-Za-z0-9_:-] and '/' (up to the room the prefix leaves)
//    maps to itself with each '/' turned into '.': "kytos/topology" ->
//    "<prefix>kytos.topology", "s1:eth1-s2:eth1" -> "<prefix>s1:eth1-s2:eth1";
//  - any other text (a '.', space or other character, too long, or ending
//    like a hashed name) maps to that readable form, with other characters
//    also turned into '.' and cut to fit, followed by ':' and 16 hex digits
//    of a stable 64-bit hash of the whole text: "kytos.topology" ->
//    "<prefix>kytos.topology:6f0c...". A plain name never ends that way, so
//    it never meets a hashed one.
// `prefix` must be a valid queue name start, shorter than
// kMaxQueueNameLength - 17.
std::string QueueNameFor(absl::string_view prefix, absl::string_view text);

// FNV-1a 64: stable across processes and releases (unlike absl::Hash), for
// names that outlive a process.
uint64_t StableHash(absl::string_view text);

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_COMMON_QUEUE_NAME_H_
