#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_ZEROMQ_ZEROMQ_TRANSPORT_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_ZEROMQ_ZEROMQ_TRANSPORT_H_

#include <memory>

#include "absl/status/statusor.h"
#include "services/common/config.h"
#include "services/mq-bridge/transport/transport.h"
#include "services/mq-bridge/transport/zeromq/zeromq_settings.h"

namespace switchboard::bridge::zeromq {

// The "zeromq" driver: brokerless publish-subscribe over ZeroMQ.
//
// Each instance (one per bridge) binds one publisher socket (XPUB) on
// `bind` and connects one subscriber socket (SUB) to each publisher it
// reads: its own (`connect_self`) and every endpoint in `connect`. So in a
// network of bridges each one lists the others, and every bridge receives
// every event published through any of them (fan-out between bridges).
//
// Publish sends each message once per queue named, as the multipart
// message [queue name, header, event id, payload], the queue name being
// the ZeroMQ topic. The header (18 bytes) is a version (1), flags (bit 0:
// the queue is last-value), the publisher's random 64-bit id and its
// sequence number, both big-endian; one sequence counts every message of a
// publisher, so a receiver sees every gap (lost messages, counted and
// logged). Control messages [empty topic, header, bound endpoint] greet
// every new subscriber at once and are repeated every `heartbeat`
// (zeromq_wire.h).
// Publish's callback gets OK once every message of the batch has been
// handed to the publisher socket and, with `connect_self`, has come back
// into this bridge's own buffers: the batch is then *held* here (as the
// Transport contract asks) and *sent* to the other subscribers, not stored
// for them: ZeroMQ drops what a subscriber that is slow (past the
// high-water marks), disconnected or not yet connected does not take. A
// batch of which some messages did not come back fails with
// ResourceExhausted (the broadcaster sends it again; other bridges may then
// get those events twice, which the consumer's deduplication absorbs).
// Without `connect_self`, OK means sent.
//
// Receiving bridges keep what arrives in a MemoryTransport (bounded by
// `max_queue_messages` and `max_total_bytes`; when full, the oldest ready
// messages of the queue are dropped and counted), and serve their
// subscriptions from it exactly as the memory driver does: prefetch
// windows, acks, nack with requeue at the head, unacked deliveries back at
// the head of their queue when a subscription ends, competing subscribers
// round robin, last-value queues. Those guarantees hold from the moment a
// message is in the receiving bridge's memory until that bridge stops.
// Receivers subscribe to every topic and keep only whole queue names they
// know, so "app.x" never receives "app.xy" (ZeroMQ topics match prefixes).
// With `declare_on_receive`, the first message for a queue the receiver
// has not declared declares it, with the publisher's last-value flag: a
// queue exists on every bridge once its first event arrived, as it exists
// on the publishing one once its first event was produced.
//
// Slow joiners: a subscriber only gets what is published after its
// subscription reached the publisher. Starting waits (up to
// `connect_timeout`) until a message from every publisher arrived; for its
// own publisher that is a hard requirement (so one bridge alone never loses
// its first events), for the others a warning, since peers come and go and
// ZeroMQ keeps reconnecting. Events published while a peer is away are
// lost for that peer.
//
// Destruction sends what Publish accepted, closes the sockets, and lets
// unsent messages linger at most `linger`.

// Reads `transport.zeromq` (ParseSettings, zeromq_settings.h), binds,
// connects, and waits for the publishers (see above). Errors from binding
// or connecting name the endpoint. Registered as the driver "zeromq".
absl::StatusOr<std::unique_ptr<Transport>> Create(const ConfigNode& config);

}  // namespace switchboard::bridge::zeromq

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_ZEROMQ_ZEROMQ_TRANSPORT_H_
