#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_SHARED_STATE_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_SHARED_STATE_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "services/common/event_fd.h"
#include "services/mq-bridge/transport/rabbitmq/confirm_tracker.h"
#include "services/mq-bridge/transport/rabbitmq/delivery_counter.h"
#include "services/mq-bridge/transport/transport.h"

namespace switchboard::bridge::rabbitmq {

class RabbitMqSubscription;

// What the publisher thread answers a declare or stats command.
struct Reply {
  absl::Status result;
  std::vector<QueueStats> stats;
  absl::Notification finished;
};

// The commands the publisher thread runs, in order. A declare or stats
// command's `reply` is shared with the caller, who may have stopped
// waiting (a deadline); a publish answers through its batch's callback.
struct PublishCommand {
  PendingBatch batch;
};
struct DeclareCommand {
  std::string name;
  QueueOptions options;
  std::shared_ptr<Reply> reply;
};
struct StatsCommand {
  // Empty: every declared queue (and its dead-letter queue).
  std::vector<std::string> names;
  std::shared_ptr<Reply> reply;
};
using Command = std::variant<PublishCommand, DeclareCommand, StatsCommand>;

// The reply the caller of `command` waits for; null for a publish.
inline Reply* ReplyOf(const Command& command) {
  if (const auto* c = std::get_if<DeclareCommand>(&command)) {
    return c->reply.get();
  }
  if (const auto* c = std::get_if<StatsCommand>(&command)) {
    return c->reply.get();
  }
  return nullptr;
}

// What the threads of one transport share: the callers' threads (gRPC
// threads), the publisher thread and the subscriptions' threads.
struct SharedState {
  explicit SharedState(EventFd wake_publisher)
      : wake(std::move(wake_publisher)) {}

  // Wakes the publisher thread: a command is queued, or it is to stop.
  const EventFd wake;
  // Deliveries of events that came back, for max_deliveries (its own
  // lock).
  DeliveryCounter deliveries;

  mutable absl::Mutex mu;
  std::deque<Command> commands ABSL_GUARDED_BY(mu);
  // The node the publisher is connected to, or was last connected to.
  std::string connected_to ABSL_GUARDED_BY(mu);
  bool stopping ABSL_GUARDED_BY(mu) = false;
  // Declared queues and their options, re-declared after a reconnect.
  absl::flat_hash_map<std::string, QueueOptions> declared ABSL_GUARDED_BY(mu);
  absl::flat_hash_set<RabbitMqSubscription*> subscriptions ABSL_GUARDED_BY(mu);
  // Publishes refused by reject-publish queues, per queue (QueueStats).
  absl::flat_hash_map<std::string, uint64_t> rejected ABSL_GUARDED_BY(mu);
};

}  // namespace switchboard::bridge::rabbitmq

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_SHARED_STATE_H_
