#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_RABBITMQ_TRANSPORT_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_RABBITMQ_TRANSPORT_H_

#include <memory>

#include "absl/status/statusor.h"
#include "services/common/config.h"
#include "services/mq-bridge/transport/rabbitmq/rabbitmq_settings.h"
#include "services/mq-bridge/transport/transport.h"

namespace switchboard::bridge::rabbitmq {

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
//
// Transport::connected_to() is the node the publisher is connected to, or
// was last connected to while it reconnects: "amqp://user@host:port/vhost".
//
// Connects (failing with the broker's reason if it cannot) and declares
// the exchange.
absl::StatusOr<std::unique_ptr<Transport>> Connect(Settings settings);

// The driver's TransportFactory, registered as "rabbitmq": ParseSettings,
// then Connect.
absl::StatusOr<std::unique_ptr<Transport>> Create(const ConfigNode& config);

}  // namespace switchboard::bridge::rabbitmq

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_RABBITMQ_TRANSPORT_H_
