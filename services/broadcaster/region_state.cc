#include "services/broadcaster/region_state.h"

#include "google/protobuf/util/time_util.h"

namespace switchboard::broadcaster {

google::protobuf::Timestamp TimestampProto(absl::Time t) {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      absl::ToUnixNanos(t));
}

uint64_t WholeSeconds(absl::Duration d) {
  return d <= absl::ZeroDuration()
             ? 0
             : static_cast<uint64_t>(absl::ToInt64Seconds(d));
}

void AppendConnections(
    const std::vector<TrackedConnection>& connections, absl::Time now,
    google::protobuf::RepeatedPtrField<switchboard::v1::SwitchConnection>*
        out) {
  for (const TrackedConnection& c : connections) {
    switchboard::v1::SwitchConnection* o = out->Add();
    o->set_region(c.region);
    o->set_ip(c.ip);
    o->set_mode(c.mode);
    o->set_uptime_seconds(WholeSeconds(now - c.since));
  }
}

}  // namespace switchboard::broadcaster
