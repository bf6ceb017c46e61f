#ifndef SWITCHBOARD_SERVICES_BROADCASTER_SPEAKER_PROTOCOL_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_SPEAKER_PROTOCOL_H_

// What the broadcaster's region tracker and the region speakers
// (tools/speaker) agree on, beyond the protos: where a speaker's commands
// are queued and the requests the tracker sends it. Speakers report with
// switch_status, port_status and heartbeat payloads (event.proto), whose
// `region` names the speaker's region; their event types are free.

namespace switchboard::broadcaster {

// Commands for region R go to <queue prefix>R; this is the prefix unless
// `regions.queue_prefix` says otherwise.
inline constexpr char kDefaultRegionQueuePrefix[] = "region.";

// The event types of the requests the tracker sends a region's queue (the
// request's subject is the region; its command is a broadcast, meaning
// "all your switches").
inline constexpr char kAliveRequestType[] = "switchboard.region.alive_request";
inline constexpr char kDumpRequestType[] = "switchboard.region.dump_request";

// Command names of the requests, for speakers that switch on Command.name.
// An alive request is answered with a heartbeat, a dump request with a
// switch_status DUMP per switch held.
inline constexpr char kAliveRequestCommand[] = "alive_request";
inline constexpr char kDumpAllSwitchesCommand[] = "dump_all_switches";

// Attribute naming why a dump was requested: kDumpReasonSync (the periodic
// sync) or kDumpReasonReturn (the region came back or was heard for the
// first time).
inline constexpr char kDumpReasonAttribute[] = "switchboard.dump_reason";
inline constexpr char kDumpReasonSync[] = "sync";
inline constexpr char kDumpReasonReturn[] = "return";

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_SPEAKER_PROTOCOL_H_
