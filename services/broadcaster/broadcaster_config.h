#ifndef SWITCHBOARD_SERVICES_BROADCASTER_BROADCASTER_CONFIG_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_BROADCASTER_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/broadcaster/disk_log.h"
#include "services/broadcaster/event_buffer.h"
#include "services/broadcaster/event_validation.h"
#include "services/broadcaster/forwarder.h"
#include "services/broadcaster/region_settings.h"
#include "services/broadcaster/router.h"
#include "services/common/config.h"
#include "services/common/listen_settings.h"

namespace switchboard::broadcaster {

// The broadcaster's settings; see README.md "Configuration reference".
struct BroadcasterConfig {
  // `listen`: TCP, plus or instead a unix socket (see ListenSettings).
  ListenSettings listen = ListenSettings::Tcp("0.0.0.0", 50051);
  Forwarder::Options bridge;
  EventBuffer::Limits buffer;
  // buffer.type disk: the disk buffer's settings (buffer.disk); memory
  // when unset.
  std::optional<DiskLog::Options> disk_buffer;
  // Largest serialized event accepted.
  uint64_t max_event_bytes = 1 << 20;
  // Most events in one PublishRequest.
  uint32_t max_batch_events = 10000;
  // Answers queued on one Publish stream before it stops reading.
  uint32_t max_pending_batches = 64;
  // On shutdown, how long the buffer may take to drain to the bridge.
  absl::Duration flush_timeout = absl::Seconds(10);
  // How far an event's time may be from the broadcaster's clock
  // (max_time_ahead, max_time_behind).
  TimeBounds time_bounds;
  Router::Settings routing;
  RegionSettings regions;

  // Validates every field; errors name it.
  static absl::StatusOr<BroadcasterConfig> Parse(
      const ConfigNode& config, const std::string& listen_override);
};

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_BROADCASTER_CONFIG_H_
