#ifndef SWITCHBOARD_SERVICES_BROADCASTER_REGION_SETTINGS_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_REGION_SETTINGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/broadcaster/speaker_protocol.h"
#include "services/common/config.h"

namespace switchboard::broadcaster {

// The `regions` section of the broadcaster's config.
struct RegionSettings {
  // Which pair of SwitchStatus changes defines a region's presence on a
  // switch.
  enum class Presence {
    // CONNECTED / DISCONNECTED (tracks every connection, any role).
    kConnect,
    // ACTIVATED / DEACTIVATED (tracks the master/equal role).
    kActivate,
  };

  // Off: no tracking, commands are routed like any other event.
  bool enabled = true;
  // Commands for region R go to <queue_prefix>R.
  std::string queue_prefix = kDefaultRegionQueuePrefix;
  // Where commands no region can take are kept.
  std::string unroutable_queue = "unroutable";
  Presence presence = Presence::kConnect;
  // A region quiet for this long is sent an alive request...
  absl::Duration alive_interval = absl::Seconds(2);
  // ...and after this long it is down: its connections are removed.
  absl::Duration alive_timeout = absl::Seconds(5);
  // Every sync_interval, a dump of all switches is requested from every
  // live region; periodic_sync false turns that off.
  bool periodic_sync = true;
  absl::Duration sync_interval = absl::Seconds(60);
  // How long commands for a switch no region holds any more still go to
  // the region that served it last.
  absl::Duration grace_period = absl::Seconds(900);
  // Source of the events the tracker produces (virtual switch events,
  // alive and dump requests).
  std::string source = "switchboard/regions";
  // Regions known from the start: asked at once whether they are alive,
  // so the switch map is rebuilt without waiting for them to speak.
  std::vector<std::string> known;
};

// Reads the `regions` section of `config` (the whole broadcaster config).
// Errors name the field.
absl::StatusOr<RegionSettings> ParseRegionSettings(const ConfigNode& config);

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_REGION_SETTINGS_H_
