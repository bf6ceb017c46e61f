#ifndef SWITCHBOARD_SERVICES_BROADCASTER_STATS_HANDLER_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_STATS_HANDLER_H_

#include <functional>

#include "absl/status/status.h"
#include "switchboard/v1/broadcaster.pb.h"

namespace switchboard::broadcaster {

// Broadcaster.GetStats: the broadcaster's counters, buffer and bridge
// connection as `stats` reads them now (BroadcasterService::Stats).
// Thread-safe.
class StatsHandler {
 public:
  using StatsSource = std::function<switchboard::v1::BroadcasterStats()>;

  explicit StatsHandler(StatsSource stats);

  absl::Status Handle(const switchboard::v1::GetStatsRequest& request,
                      switchboard::v1::BroadcasterStats* response) const;

 private:
  const StatsSource stats_;
};

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_STATS_HANDLER_H_
