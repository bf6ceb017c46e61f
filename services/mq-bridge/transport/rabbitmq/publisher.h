#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_PUBLISHER_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_PUBLISHER_H_

#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "services/mq-bridge/transport/rabbitmq/amqp_connection.h"
#include "services/mq-bridge/transport/rabbitmq/confirm_tracker.h"
#include "services/mq-bridge/transport/rabbitmq/rabbitmq_settings.h"
#include "services/mq-bridge/transport/rabbitmq/shared_state.h"

namespace switchboard::bridge::rabbitmq {

// The publisher thread of a transport and its connection: it runs the
// commands the transport queues in SharedState (publishes, declarations,
// stats look-ups), in order.
//
// Publishing uses publisher confirms: a batch is confirmed to the caller
// once the broker confirmed every message of it, with at most
// `confirm_window` messages unconfirmed at once. If the connection drops,
// the thread reconnects with backoff (to the next node of a cluster),
// declares the topology again and republishes every unconfirmed message,
// in order.
class Publisher {
 public:
  // `settings` and `shared` outlive the publisher.
  Publisher(const Settings& settings, SharedState* shared);
  // Stops the thread if Stop has not.
  ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // Connects (failing with the broker's reason if it cannot), declares the
  // exchange and starts the thread. The first connection is made here, so
  // a wrong address or password is a clear start-up error instead of a
  // retry loop.
  absl::Status Start();
  // Stops the thread: unconfirmed batches get a moment to be confirmed;
  // then what is left fails with Unavailable.
  void Stop();

 private:
  void Loop();
  // Opens the connection, channels and topology; republishes.
  absl::Status Setup();
  // Connects while there is no connection. On failure puts `commands` back
  // and waits `*backoff` (less if stopping), which doubles; returns whether
  // it connected.
  bool Reconnect(std::deque<Command>* commands, absl::Duration* backoff);
  // Runs `commands` in order, answering each; returns the error that broke
  // the connection, if one did (the commands not run stay in `commands`).
  absl::Status RunCommands(std::deque<Command>* commands);
  // Waits for the broker's confirms or a wake-up, and reads them.
  absl::Status AwaitConfirms(bool stopping);
  // The connection is lost: puts `commands` back for the next one.
  void ConnectionLost(const absl::Status& error, std::deque<Command>* commands);
  // At the end: fails every batch and command left.
  void FailEverything();
  // Puts `commands` back in front of the queue, in their order.
  void Requeue(std::deque<Command>* commands)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_->mu);

  absl::Status Execute(Command& command);
  absl::Status ExecutePublish(PendingBatch batch);
  absl::Status ExecuteDeclare(const DeclareCommand& command);
  absl::Status ExecuteStats(const StatsCommand& command);
  absl::Status DeclareOnBroker(const std::string& name,
                               const QueueOptions& options);
  absl::Status PublishOnBroker(PendingBatch& batch);
  // Reads confirms and out-of-band frames; waits up to `timeout` for them.
  absl::Status ReadConfirms(absl::Duration timeout);
  // What a confirm did: an error when it ends the connection.
  absl::Status Confirmed(const ConfirmTracker::Outcome& outcome);
  // Reads a message the broker returned as unroutable (basic.return).
  absl::Status ReadReturned(const amqp_frame_t& frame);
  // Whether `queue` refuses publishes by policy (x-overflow
  // reject-publish); if so counts the refusal (QueueStats::rejected).
  bool RefusedByPolicy(const std::string& queue);

  const Settings& settings_;
  SharedState* const shared_;
  // How long the thread waits when there is nothing to do.
  const absl::Duration idle_;
  std::thread thread_;

  // Publisher thread only.
  std::unique_ptr<AmqpConnection> conn_;
  // The node the next connection attempt starts with.
  size_t next_node_ = 0;
  ConfirmTracker tracker_;
  // The connection was replaced because of a nack (not a refusal) of the
  // oldest pending batch: everything pending is published again.
  bool ended_by_nack_ = false;
  // The wait before reconnecting after a nack; doubles while nacks go on.
  absl::Duration nack_backoff_;
};

}  // namespace switchboard::bridge::rabbitmq

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_PUBLISHER_H_
