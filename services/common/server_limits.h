#ifndef SWITCHBOARD_SERVICES_COMMON_SERVER_LIMITS_H_
#define SWITCHBOARD_SERVICES_COMMON_SERVER_LIMITS_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/config.h"

namespace switchboard {

// What one client connection may ask of a service, and how dead peers are
// noticed: the `limits` section that every service's config file shares.
// `limits` takes a restart (a reload checks it and keeps the running
// values).
struct ServerLimits {
  // Largest request message accepted; a larger one fails its call with
  // RESOURCE_EXHAUSTED before the service sees it.
  uint32_t max_receive_message_bytes = 4 << 20;
  // Streams (calls) one client connection may have open at once; HTTP/2
  // SETTINGS_MAX_CONCURRENT_STREAMS. Further calls wait for one to end.
  uint32_t max_concurrent_streams = 100;
  // A connection (to a client, or this service's own channel to the
  // bridge) is pinged after being idle this long, and closed when the ping
  // is not answered within keepalive_timeout: a dead peer is noticed within
  // keepalive_time + keepalive_timeout.
  absl::Duration keepalive_time = absl::Seconds(20);
  absl::Duration keepalive_timeout = absl::Seconds(10);

  // How often servers accept a client's pings, so that any keepalive_time
  // a client of ours may be configured with is accepted.
  static constexpr absl::Duration kMinClientPingInterval = absl::Seconds(1);

  // Reads `limits` from a service's config root, each setting defaulting to
  // `defaults`'. Errors name the field.
  static absl::StatusOr<ServerLimits> Parse(const ConfigNode& root,
                                            const ServerLimits& defaults);
  static absl::StatusOr<ServerLimits> Parse(const ConfigNode& root) {
    return Parse(root, ServerLimits());
  }

  // Message size, stream and keepalive settings of a server.
  void ApplyTo(grpc::ServerBuilder& builder) const;
  // Keepalive for a channel one service opens to another, plus the
  // 64 MiB message sizes internal streams use.
  grpc::ChannelArguments InternalChannelArguments() const;

  bool operator==(const ServerLimits& other) const;
  bool operator!=(const ServerLimits& other) const { return !(*this == other); }
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_COMMON_SERVER_LIMITS_H_
