#ifndef SWITCHBOARD_SERVICES_BROADCASTER_REGION_TRACKER_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_REGION_TRACKER_H_

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/common/config.h"
#include "switchboard/v1/event.pb.h"
#include "switchboard/v1/regions.pb.h"

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
  std::string queue_prefix = "region.";
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

// The event type names the tracker produces.
inline constexpr char kSwitchConnectedType[] = "switchboard.switch.connected";
inline constexpr char kSwitchDisconnectedType[] =
    "switchboard.switch.disconnected";
inline constexpr char kSwitchUpdatedType[] = "switchboard.switch.updated";
inline constexpr char kAliveRequestType[] = "switchboard.region.alive_request";
inline constexpr char kDumpRequestType[] = "switchboard.region.dump_request";
// Command names of the requests, for speakers that switch on Command.name.
inline constexpr char kAliveRequestCommand[] = "alive_request";
inline constexpr char kDumpAllSwitchesCommand[] = "dump_all_switches";
// Attribute naming why a dump was requested: "sync", "return" (the region
// came back or was heard for the first time).
inline constexpr char kDumpReasonAttribute[] = "switchboard.dump_reason";

// The region an event comes from: the `region` of its switch_status,
// port_status or heartbeat payload; empty for other events.
const std::string& EventRegion(const switchboard::v1::Event& event);

// Checks what the tracker relies on in an event: a region name that can
// name a queue, a switch id and change on switch events, targets on
// commands. InvalidArgument naming the field.
absl::Status ValidateRegionEvent(const switchboard::v1::Event& event,
                                 const RegionSettings& settings);

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

  // Where a command goes.
  struct CommandRoute {
    // Region queues getting the command as it is.
    std::vector<std::string> queues;
    // Region (or unroutable) queues getting a copy scoped to their
    // switches, for a multi-switch command split across regions.
    std::vector<std::pair<std::string, switchboard::v1::Event>> scoped;
    // Not OK when some or all of it could not be routed: that part is in
    // the unroutable queue (in `queues` or `scoped`), and the publisher is
    // told with this status.
    absl::Status error;
  };

  RegionTracker(RegionSettings settings, absl::Time now);

  // New settings; the tracked state is kept. When tracking is turned back
  // on, regions alive before count as just heard (their silence while it
  // was off is not theirs).
  void UpdateSettings(RegionSettings settings, absl::Time now);

  // An event from a region (EventRegion not empty). May rewrite it (adds
  // availability data to switch events).
  Output OnRegionEvent(switchboard::v1::Event* event, absl::Time now);

  // Where `command` (an event with a Command payload) goes.
  CommandRoute RouteCommand(const switchboard::v1::Event& command,
                            absl::Time now);

  // Alive requests, region timeouts, periodic sync, end of grace periods.
  // Call often (every alive_interval / 4 or so).
  Output Tick(absl::Time now);

  // Northbound queries. nullopt when the switch is not tracked.
  std::optional<switchboard::v1::SwitchConnections> GetSwitch(
      const std::string& switch_id, absl::Time now) const;
  std::vector<switchboard::v1::SwitchConnections> ListSwitches(
      const std::string& region, absl::Time now) const;
  std::vector<switchboard::v1::RegionState> ListRegions() const;

 private:
  struct Connection {
    std::string region;
    std::string ip;
    switchboard::v1::ConnectionMode mode;
    absl::Time since;
  };
  struct SwitchState {
    // In the order they were established.
    std::vector<Connection> connections;
    std::string active;
    absl::Time connected_since;
    // Routing kept after the last read-write region left.
    std::string grace_region;
    absl::Time grace_until = absl::InfinitePast();
  };
  struct RegionState {
    bool alive = false;
    bool ever_seen = false;
    absl::Time last_seen = absl::InfinitePast();
    absl::Time last_request = absl::InfinitePast();
  };

  std::string RegionQueue(const std::string& region) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  switchboard::v1::Event NewEvent(const std::string& type, absl::Time now) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void Request(const std::string& region, const std::string& type,
               const std::string& command, const std::string& reason,
               absl::Time now, Output* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks `region` heard from; asks a returning or new one for a dump.
  void Seen(const std::string& region, absl::Time now, Output* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HandleSwitchStatus(switchboard::v1::Event* event, absl::Time now,
                          Output* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddConnection(SwitchState& state, const switchboard::v1::SwitchStatus&,
                     absl::Time now);
  // Re-elects the active region after a change and emits the virtual event
  // the change means to apps.
  void Settle(const std::string& switch_id, SwitchState& state,
              bool connections_changed, absl::Time now, Output* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RegionDown(const std::string& region, absl::Time now, Output* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FillConnections(const SwitchState& state, absl::Time now,
                       switchboard::v1::SwitchStatus* status) const;
  switchboard::v1::SwitchConnections Describe(const std::string& switch_id,
                                              const SwitchState& state,
                                              absl::Time now) const;
  // The region commands for the switch go to: the active one, or the
  // grace region; error otherwise.
  absl::StatusOr<std::string> CommandRegion(const std::string& switch_id,
                                            absl::Time now) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  RegionSettings settings_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, SwitchState> switches_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, RegionState> regions_ ABSL_GUARDED_BY(mu_);
  absl::Time next_sync_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_REGION_TRACKER_H_
