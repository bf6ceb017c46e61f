#ifndef SWITCHBOARD_SERVICES_BROADCASTER_REGION_STATE_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_REGION_STATE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "google/protobuf/timestamp.pb.h"
#include "switchboard/v1/event.pb.h"

// The data the RegionTracker keeps (region_tracker.h), shared by its core,
// its command router (region_router.h) and its views (region_views.h).
// Plain data: the tracker guards it with its mutex.

namespace switchboard::broadcaster {

// One region's connection to a switch.
struct TrackedConnection {
  std::string region;
  std::string ip;
  switchboard::v1::ConnectionMode mode;
  absl::Time since;
};

// What the tracker knows of one switch.
struct TrackedSwitch {
  // In the order they were established.
  std::vector<TrackedConnection> connections;
  // The region commands go to: the first read-write one, kept until it
  // goes; empty when no region holds the switch read-write.
  std::string active;
  absl::Time connected_since;
  // Routing kept after the last read-write region left.
  std::string grace_region;
  absl::Time grace_until = absl::InfinitePast();
};

// What the tracker knows of one region.
struct TrackedRegion {
  bool alive = false;
  bool ever_seen = false;
  absl::Time last_seen = absl::InfinitePast();
  absl::Time last_request = absl::InfinitePast();
};

// By switch id / region name (sorted: the views list them in this order).
using TrackedSwitches = std::map<std::string, TrackedSwitch>;
using TrackedRegions = std::map<std::string, TrackedRegion>;

google::protobuf::Timestamp TimestampProto(absl::Time t);

// Whole seconds of `d`; 0 when not positive.
uint64_t WholeSeconds(absl::Duration d);

// Appends `connections` to `out`, with their uptime at `now`.
void AppendConnections(
    const std::vector<TrackedConnection>& connections, absl::Time now,
    google::protobuf::RepeatedPtrField<switchboard::v1::SwitchConnection>* out);

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_REGION_STATE_H_
