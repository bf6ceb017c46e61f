#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_RABBITMQ_TRANSPORT_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_RABBITMQ_TRANSPORT_H_

#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "services/common/config.h"
#include "services/mq-bridge/transport/rabbitmq/amqp_connection.h"
#include "services/mq-bridge/transport/transport.h"

namespace switchboard::bridge::rabbitmq {

// One entry of `transport.rabbitmq.nodes`: "host:port", "host" (port
// 5672) or "[ipv6]:port". InvalidArgument says what is wrong with it.
absl::StatusOr<BrokerNode> ParseBrokerNode(absl::string_view text);

// The "rabbitmq" driver: AMQP 0-9-1 through rabbitmq-c.
//
// Topology: one durable topic exchange (`exchange`); each switchboard queue
// is an AMQP queue of the same name bound with its own name as routing key.
// One event is one message: the serialized switchboard.v1.Event as body,
// content type "application/x-protobuf; proto=switchboard.v1.Event", and the
// event's id, type, source and time as message_id, type, app_id and
// timestamp (see README.md), so any AMQP client can consume a switchboard
// queue.
//
// Publishing runs on one connection and thread with publisher confirms: a
// batch is confirmed to the caller once the broker confirmed every message
// of it, with at most `confirm_window` messages unconfirmed at once. If the
// connection drops, the thread reconnects with backoff, declares the
// topology again and republishes every unconfirmed message, in order.
// Each subscription has its own connection and thread; prefetch is
// basic.qos, and when a subscription ends its unacked messages return to
// their queues (the broker requeues them).
//
// A cluster is a list of nodes (ConnectionSettings::nodes): every
// connection goes to the first node that accepts it, in the listed order,
// and after it is lost the next attempt starts with the node after the
// lost one (round robin), so the publisher and each subscription fail over
// to a live node. Republishing and re-subscribing are as above.
class RabbitMqTransport final : public Transport {
 public:
  struct Settings {
    ConnectionSettings connection;
    std::string exchange = "switchboard";
    // "classic" or "quorum" (x-queue-type).
    std::string queue_type = "classic";
    // Durable queues and persistent messages: they survive a broker
    // restart.
    bool durable = true;
    uint32_t confirm_window = 10000;
    // Deliveries of one event that end unacked (nacked with requeue, or
    // returned by a subscriber that went away) before it is moved to the
    // dead-letter queue "dead.<queue>" instead of looping forever; 0 never
    // dead-letters. Not for last-value queues.
    uint32_t max_deliveries = 10;
    // While deliveries keep arriving, how long a subscription waits to
    // hand them over in one batch; 0 hands over every read at once.
    absl::Duration delivery_linger = absl::Milliseconds(1);
    absl::Duration reconnect_initial = absl::Milliseconds(100);
    absl::Duration reconnect_max = absl::Seconds(5);
    // How long a declaration or a stats look-up may wait for the broker
    // (they run on gRPC threads).
    absl::Duration command_timeout = absl::Seconds(5);
  };

  // Reads `transport.rabbitmq` settings; see README.md. The password comes
  // from `password_file`, else the environment variable named by
  // `password_env` (default SWITCHBOARD_RABBITMQ_PASSWORD), else
  // `password`, else "guest".
  static absl::StatusOr<Settings> ParseSettings(const ConfigNode& config);
  static absl::StatusOr<std::unique_ptr<Transport>> Create(
      const ConfigNode& config);

  // Connects (failing with the broker's reason if it cannot) and declares
  // the exchange.
  static absl::StatusOr<std::unique_ptr<RabbitMqTransport>> Connect(
      Settings settings);
  ~RabbitMqTransport() override;

  absl::string_view driver() const override { return "rabbitmq"; }
  Capabilities capabilities() const override;
  absl::Status DeclareQueue(absl::string_view name,
                            const QueueOptions& options) override;
  void Publish(std::vector<OutgoingMessage> batch,
               PublishCallback done) override;
  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(
      const SubscribeOptions& options, DeliveryHandler handler) override;
  absl::StatusOr<std::vector<QueueStats>> GetQueueStats(
      absl::Span<const std::string> queues) override;

  // The node the publisher is connected to, or was last connected to while
  // it reconnects: "amqp://user@host:port/vhost".
  std::string connected_to() const override;

 private:
  class RabbitMqSubscription;
  struct Command;
  struct PendingBatch;

  explicit RabbitMqTransport(Settings settings);

  struct Reply;
  // Runs `command` on the publisher thread and waits, at most
  // command_timeout, for its reply (DeadlineExceeded then).
  absl::StatusOr<std::shared_ptr<Reply>> RunOnPublisher(
      std::unique_ptr<Command> command);
  void PublisherLoop();
  // Opens the connection, channels and topology; republishes.
  absl::Status Setup();
  absl::Status Execute(Command& command);
  absl::Status DeclareOnBroker(const std::string& name,
                               const QueueOptions& options);
  absl::Status PublishOnBroker(PendingBatch& batch);
  // Reads confirms and out-of-band frames; waits up to `timeout` for them.
  absl::Status ReadConfirms(absl::Duration timeout);
  void Confirm(uint64_t seq, bool multiple, bool ack);
  // A nack of `seq` in `batch`: a refusal when its queue rejects by policy,
  // else the whole batch goes again.
  void Nack(PendingBatch& batch, uint64_t seq);
  // The broker returned message `id` for `queue` as unroutable.
  void Returned(const std::string& queue, const std::string& id);
  void FailAllPending(const absl::Status& status);

  // Counts a redelivery of event `id` from `queue`; returns how many
  // deliveries there were, the first (never counted) included (bounded
  // memory: the oldest counts are forgotten first).
  uint32_t CountDelivery(const std::string& queue, const std::string& id);
  void ForgetDeliveries(const std::string& queue, const std::string& id);
  bool DeadLettered(const std::string& queue);

  void Register(RabbitMqSubscription* s);
  void Unregister(RabbitMqSubscription* s);

  const Settings settings_;
  const int wake_fd_;
  std::thread publisher_;

  mutable absl::Mutex mu_;
  std::deque<std::unique_ptr<Command>> commands_ ABSL_GUARDED_BY(mu_);
  std::string connected_to_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Declared queues and their options, re-declared after a reconnect.
  absl::flat_hash_map<std::string, QueueOptions> declared_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<RabbitMqSubscription*> subscriptions_
      ABSL_GUARDED_BY(mu_);
  // Publishes refused by reject-publish queues, per queue (QueueStats).
  absl::flat_hash_map<std::string, uint64_t> rejected_ ABSL_GUARDED_BY(mu_);

  absl::Mutex counts_mu_;
  absl::flat_hash_map<std::string, uint32_t> counts_
      ABSL_GUARDED_BY(counts_mu_);
  std::deque<std::string> count_order_ ABSL_GUARDED_BY(counts_mu_);

  // Publisher thread only.
  std::unique_ptr<AmqpConnection> conn_;
  // The node the next connection attempt starts with.
  size_t next_node_ = 0;
  uint64_t next_seq_ = 1;
  uint64_t unconfirmed_ = 0;
  // Confirms: every sequence number up to confirmed_upto_, and these above.
  uint64_t confirmed_upto_ = 0;
  absl::btree_set<uint64_t> confirmed_above_;
  // The queue of a nack (not a refusal) of the oldest pending batch: the
  // connection is replaced, and everything pending published again.
  std::string nack_queue_;
  bool ended_by_nack_ = false;
  // The wait before reconnecting after a nack; doubles while nacks go on.
  absl::Duration nack_backoff_ = settings_.reconnect_initial;
  std::deque<PendingBatch> pending_;
};

}  // namespace switchboard::bridge::rabbitmq

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_RABBITMQ_TRANSPORT_H_
