#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_RABBITMQ_SUBSCRIPTION_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_RABBITMQ_SUBSCRIPTION_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "services/common/event_fd.h"
#include "services/mq-bridge/transport/rabbitmq/amqp_connection.h"
#include "services/mq-bridge/transport/rabbitmq/rabbitmq_settings.h"
#include "services/mq-bridge/transport/rabbitmq/shared_state.h"
#include "services/mq-bridge/transport/transport.h"

namespace switchboard::bridge::rabbitmq {

// One subscription: its own connection and thread. Prefetch is basic.qos,
// and when the subscription ends its unacked messages return to their
// queues (the broker requeues them). A lost connection is replaced with
// backoff, with the next node of a cluster first; the broker requeues what
// it had delivered on it.
//
// Events delivered more than max_deliveries times are nacked without
// requeue, so that the broker dead-letters them (SharedState::deliveries
// counts what classic queues do not).
class RabbitMqSubscription final : public Subscription {
 public:
  // Connects and starts consuming; the first connection's outcome is the
  // result (NotFound for a queue that does not exist). `settings` and
  // `shared` outlive the subscription.
  static absl::StatusOr<std::unique_ptr<RabbitMqSubscription>> Start(
      const Settings& settings, SharedState* shared, SubscribeOptions options,
      DeliveryHandler handler);

  // Leaves SharedState::subscriptions.
  ~RabbitMqSubscription() override;

  absl::Status Ack(absl::Span<const uint64_t> tags) override;
  absl::Status Nack(absl::Span<const uint64_t> tags, bool requeue) override;

  // Deliveries from `queue` not acked yet (QueueStats::unacked).
  uint64_t UnackedIn(const std::string& queue);

 private:
  enum class Settlement { kAck, kRequeue, kDrop };
  // An unacked delivery.
  struct Held {
    std::string queue;
    std::string id;
    // Whether the transport counts its deliveries (to forget when settled).
    bool counted;
  };

  RabbitMqSubscription(const Settings& settings, SharedState* shared,
                       SubscribeOptions options, DeliveryHandler handler,
                       EventFd wake);

  absl::Status Settle(absl::Span<const uint64_t> tags, Settlement kind);
  absl::Status Setup();
  void Drop(const absl::Status& why);
  void Loop();
  // Reconnects after `*backoff`, which doubles while it fails.
  void Reconnect(absl::Duration* backoff);
  absl::Status SendSettlements();
  absl::Status ReadDeliveries(std::vector<Delivery>* out);
  // A frame that is not a delivery: a close, or a cancel (queue deleted).
  absl::Status ReadOtherFrame();
  absl::Status Linger(std::vector<Delivery>* batch);
  // Waits up to `timeout`, less if the subscription is stopping; returns
  // whether it is.
  bool StoppingWithin(absl::Duration timeout);
  // basic.qos counts in 16 bits.
  uint32_t BrokerPrefetch() const;
  size_t Outstanding();
  // The delivery for the app, or nullopt when it is to be dead-lettered.
  std::optional<Delivery> ToDelivery(const amqp_envelope_t& envelope);
  // Whether events of `queue` are dead-lettered after max_deliveries: a
  // declared queue that is not a last-value queue.
  bool DeadLettered(const std::string& queue);

  const Settings& settings_;
  SharedState* const shared_;
  const SubscribeOptions options_;
  const DeliveryHandler handler_;
  const EventFd wake_;
  std::thread thread_;
  absl::Notification started_;
  absl::Status start_status_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Our tags are base_ + the channel's delivery tag; base_ moves past every
  // tag handed out when a connection is replaced, so tags never repeat.
  uint64_t base_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_tag_ ABSL_GUARDED_BY(mu_) = 0;
  absl::btree_map<uint64_t, Held> outstanding_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<uint64_t, Settlement>> settlements_
      ABSL_GUARDED_BY(mu_);

  // Subscription thread only.
  std::unique_ptr<AmqpConnection> conn_;
  // The node the next connection attempt starts with.
  size_t next_node_ = 0;
  absl::Time last_read_end_ = absl::InfinitePast();
  absl::flat_hash_map<std::string, std::string> consumer_queues_;
};

}  // namespace switchboard::bridge::rabbitmq

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_RABBITMQ_SUBSCRIPTION_H_
