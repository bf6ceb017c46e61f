#ifndef SWITCHBOARD_SERVICES_BROADCASTER_REGION_TRACKER_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_REGION_TRACKER_H_

// The region tracker's core. Its pieces, each in its own library and all
// brought in by this header:
//   region_settings.h   the `regions` config section;
//   speaker_protocol.h  the queue prefix, request types and command names
//                       speakers (tools/speaker) rely on;
//   region_events.h     the regions' events: EventRegion,
//                       ValidateRegionEvent;
//   region_state.h      the tracked data;
//   region_router.h     routing commands and requests to region queues;
//   region_views.h      which region serves each switch, and the answers
//                       of the Regions RPCs.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/broadcaster/region_events.h"
#include "services/broadcaster/region_router.h"
#include "services/broadcaster/region_settings.h"
#include "services/broadcaster/region_state.h"
#include "services/broadcaster/speaker_protocol.h"
#include "switchboard/v1/event.pb.h"
#include "switchboard/v1/regions.pb.h"

namespace switchboard::broadcaster {

// The types of the virtual switch events the tracker produces for apps.
inline constexpr char kSwitchConnectedType[] = "switchboard.switch.connected";
inline constexpr char kSwitchDisconnectedType[] =
    "switchboard.switch.disconnected";
inline constexpr char kSwitchUpdatedType[] = "switchboard.switch.updated";

// The broadcaster's picture of which region serves each switch, and of
// which regions are alive. Pure logic: time is passed in, so tests drive it
// with their own clock. Thread-safe.
//
// Per switch it keeps the regions holding it (read-write or read-only, in
// the order they connected) and the active region: the first read-write
// one, kept until it goes, then the next read-write one. Apps see one
// virtual connection: `switchboard.switch.connected` when the switch gets
// its first read-write region, `switchboard.switch.disconnected` when it
// loses its last one, `switchboard.switch.updated` when its connections
// change in between. The regions' own connect/disconnect/activate/
// deactivate events are absorbed.
class RegionTracker {
 public:
  // What handling an event or a tick produced.
  struct Output {
    // Forward the input event (enriched in place with availability data
    // when it is a switch event). False: absorbed or dropped.
    bool forward = true;
    // The input was a port/dump update of a non-active region (dropped),
    // or a connection event (absorbed).
    bool dropped = false;
    bool absorbed = false;
    // Virtual switch events to route like any event, before the input.
    std::vector<switchboard::v1::Event> switch_events;
    // Requests for regions: (queue, event), to send to that queue only.
    std::vector<std::pair<std::string, switchboard::v1::Event>> requests;
  };

  // Where a command goes (region_router.h).
  using CommandRoute = RegionCommandRoute;

  RegionTracker(RegionSettings settings, absl::Time now);

  // New settings; the tracked state is kept. When tracking is turned back
  // on, regions alive before count as just heard (their silence while it
  // was off is not theirs).
  void UpdateSettings(RegionSettings settings, absl::Time now);

  // An event from a region (EventRegion not empty). May rewrite it (adds
  // availability data to switch events).
  Output OnRegionEvent(switchboard::v1::Event* event, absl::Time now);

  // Where `command` (an event with a Command payload) goes
  // (RouteRegionCommand).
  CommandRoute RouteCommand(const switchboard::v1::Event& command,
                            absl::Time now);

  // Alive requests, region timeouts, periodic sync, end of grace periods.
  // Call often (every alive_interval / 4 or so).
  Output Tick(absl::Time now);

  // Northbound queries (region_views.h). nullopt when the switch is not
  // tracked.
  std::optional<switchboard::v1::SwitchConnections> GetSwitch(
      const std::string& switch_id, absl::Time now) const;
  std::vector<switchboard::v1::SwitchConnections> ListSwitches(
      const std::string& region, absl::Time now) const;
  std::vector<switchboard::v1::RegionState> ListRegions() const;

 private:
  // Sends `region` a request and notes when it was asked.
  void Request(const std::string& region, const std::string& type,
               const std::string& command, const std::string& reason,
               absl::Time now, Output* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks `region` heard from; asks a returning or new one for a dump.
  void Seen(const std::string& region, absl::Time now, Output* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // A switch_status event: updates the connections, absorbs connection
  // events, forwards the active region's dumps.
  void HandleSwitchStatus(switchboard::v1::Event* event, absl::Time now,
                          Output* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A DUMP: the connection as reported, then forwarded (with availability
  // data) only when its region is the active one.
  void HandleDump(switchboard::v1::Event* event, absl::Time now, Output* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The connection `s` reports is there: added, or its ip and mode
  // updated. Returns the switch's state.
  TrackedSwitch& ConnectionUp(const switchboard::v1::SwitchStatus& s,
                              absl::Time now, Output* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The connection `s` reports is gone.
  void ConnectionDown(const switchboard::v1::SwitchStatus& s, absl::Time now,
                      Output* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The connection `s` reports now has `mode`.
  void ModeChange(const switchboard::v1::SwitchStatus& s,
                  switchboard::v1::ConnectionMode mode, absl::Time now,
                  Output* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Re-elects the active region after a change and emits the virtual event
  // the change means to apps.
  void Settle(const std::string& switch_id, TrackedSwitch& state,
              bool connections_changed, absl::Time now, Output* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RegionDown(const std::string& region, absl::Time now, Output* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The steps of Tick.
  // Alive requests to quiet regions; silent ones are down.
  void CheckRegions(absl::Time now, Output* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forgets switches no region holds once their grace period is over.
  void ForgetGoneSwitches(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Every sync_interval: dump requests to live regions, alive requests to
  // the others.
  void PeriodicSync(absl::Time now, Output* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  RegionSettings settings_ ABSL_GUARDED_BY(mu_);
  TrackedSwitches switches_ ABSL_GUARDED_BY(mu_);
  TrackedRegions regions_ ABSL_GUARDED_BY(mu_);
  absl::Time next_sync_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_REGION_TRACKER_H_
