#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_QUEUE_STATS_HANDLER_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_QUEUE_STATS_HANDLER_H_

#include "absl/status/status.h"
#include "services/mq-bridge/transport_source.h"
#include "switchboard/v1/bridge.pb.h"

namespace switchboard::bridge {

// Bridge.GetQueueStats: the named queues' stats (every queue when none is
// named), sorted by name, as the transport of the moment counts them;
// NotFound when a named queue is not declared. Thread-safe.
class QueueStatsHandler {
 public:
  explicit QueueStatsHandler(TransportSource transport);

  // Fills `response`; on error leaves it empty.
  absl::Status Handle(const switchboard::v1::GetQueueStatsRequest& request,
                      switchboard::v1::GetQueueStatsResponse* response) const;

 private:
  const TransportSource transport_;
};

}  // namespace switchboard::bridge

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_QUEUE_STATS_HANDLER_H_
