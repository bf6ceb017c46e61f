#include "services/mq-bridge/queue_stats_handler.h"

#include <string>
#include <utility>
#include <vector>

namespace switchboard::bridge {

QueueStatsHandler::QueueStatsHandler(TransportSource transport)
    : transport_(std::move(transport)) {}

absl::Status QueueStatsHandler::Handle(
    const switchboard::v1::GetQueueStatsRequest& request,
    switchboard::v1::GetQueueStatsResponse* response) const {
  std::vector<std::string> names(request.queues().begin(),
                                 request.queues().end());
  auto stats = transport_()->GetQueueStats(names);
  if (!stats.ok()) return stats.status();
  for (const QueueStats& s : *stats) {
    auto* out = response->add_queues();
    out->set_name(s.name);
    out->set_depth(s.depth);
    out->set_unacked(s.unacked);
    out->set_consumers(s.consumers);
    out->set_last_value(s.last_value);
    out->set_dropped(s.dropped);
    out->set_rejected(s.rejected);
    out->set_expired(s.expired);
    out->set_dead_lettered(s.dead_lettered);
  }
  return absl::OkStatus();
}

}  // namespace switchboard::bridge
