#include "services/broadcaster/stats_handler.h"

#include <utility>

namespace switchboard::broadcaster {

StatsHandler::StatsHandler(StatsSource stats) : stats_(std::move(stats)) {}

absl::Status StatsHandler::Handle(
    const switchboard::v1::GetStatsRequest& /*request*/,
    switchboard::v1::BroadcasterStats* response) const {
  *response = stats_();
  return absl::OkStatus();
}

}  // namespace switchboard::broadcaster
