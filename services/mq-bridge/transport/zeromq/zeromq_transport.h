#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_ZEROMQ_ZEROMQ_TRANSPORT_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_ZEROMQ_ZEROMQ_TRANSPORT_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/common/config.h"
#include "services/mq-bridge/transport/memory/memory_transport.h"
#include "services/mq-bridge/transport/transport.h"
#include "services/mq-bridge/transport/zeromq/zmq_socket.h"

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
// every new subscriber at once and are repeated every `heartbeat`.
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
// subscription reached the publisher. Start() waits (up to
// `connect_timeout`) until a message from every publisher arrived; for its
// own publisher that is a hard requirement (so one bridge alone never loses
// its first events), for the others a warning, since peers come and go and
// ZeroMQ keeps reconnecting. Events published while a peer is away are
// lost for that peer.
//
// Threads: one I/O thread owns every socket (ZeroMQ sockets are not
// thread-safe). Publish queues the batch for it and wakes it through an
// eventfd; it sends, reads what arrived, and runs the subscriptions'
// handlers (through the MemoryTransport) on that thread. Destruction sends
// what Publish accepted, closes the sockets, and lets unsent messages
// linger at most `linger`.
class ZeroMqTransport final : public Transport {
 public:
  struct Settings {
    // Where this instance's publisher listens: tcp://host:port (port * or
    // 0: any free port; host * or 0.0.0.0: every interface) or
    // ipc:///path.
    std::string bind = "tcp://127.0.0.1:5560";
    // Other publishers (other bridges' `bind` endpoints) to receive from.
    std::vector<std::string> connect;
    // Receive this instance's own publications too, so a bridge alone
    // carries events from its producers to its consumers. Listing the own
    // endpoint in `connect` as well is harmless: the publisher is
    // recognised by its id and read once.
    bool connect_self = true;
    // Declare a queue when the first message for it arrives; off: such
    // messages are dropped and counted (unrouted).
    bool declare_on_receive = true;
    // ZeroMQ high-water marks: messages queued per peer before the
    // publisher drops (send) or the receiving side stops reading (receive).
    uint32_t send_hwm = 10000;
    uint32_t receive_hwm = 10000;
    // Ready + unacked messages one queue keeps on the receiving side.
    uint64_t max_queue_messages = 100000;
    // Deliveries without an ack after which an event moves to
    // "dead.<queue>" (as `transport.memory.max_deliveries`); 0 never.
    uint32_t max_deliveries = 10;
    // Payload bytes all queues together keep on the receiving side.
    uint64_t max_total_bytes = uint64_t{1} << 30;
    // How long unsent messages may delay shutdown.
    absl::Duration linger = absl::Seconds(1);
    // Control messages and ZMTP heartbeats (a peer silent for three
    // intervals is disconnected and reconnected).
    absl::Duration heartbeat = absl::Seconds(1);
    // How long Start() waits to hear from every publisher, and a sent
    // batch at most to come back to this instance's own subscriber.
    absl::Duration connect_timeout = absl::Seconds(5);
    // CURVE: encryption and authentication between bridges (libzmq's
    // CURVE; keys in Z85, 40 characters). Off while secret_key is empty.
    struct Curve {
      // This bridge's secret key (read from curve.secret_key_file); its
      // public key is derived from it.
      std::string secret_key;
      // The public key of each publisher in `connect`, by endpoint
      // (curve.peer_keys): a publisher without the matching secret is
      // never read.
      std::map<std::string, std::string> peer_keys;
      // More public keys that may subscribe to this bridge's publisher
      // (curve.authorized_keys); its own and its peers' always may. Any
      // other subscriber is refused at the handshake (and counted).
      std::vector<std::string> authorized_keys;
    };
    Curve curve;
  };

  // What went through, for logs and tests. Updated just after the
  // buffers: a delivery may be seen a moment before its count.
  struct Counters {
    // Messages handed to the publisher socket (one per queue of an event).
    uint64_t sent = 0;
    // Data messages read from publishers.
    uint64_t received = 0;
    // Gaps in publishers' sequence numbers: messages that ZeroMQ dropped
    // on the way (high-water marks, a reconnect).
    uint64_t lost = 0;
    // Dropped on arrival because their queue was full (oldest first).
    uint64_t dropped = 0;
    // For queues not declared here (declare_on_receive off).
    uint64_t unrouted = 0;
    // Not switchboard messages, or of another protocol version.
    uint64_t malformed = 0;
    // Subscribers refused at the CURVE handshake: their key is not
    // authorized.
    uint64_t curve_refused = 0;
  };

  // Reads `transport.zeromq`; see README.md.
  static absl::StatusOr<Settings> ParseSettings(const ConfigNode& config);
  static absl::StatusOr<std::unique_ptr<Transport>> Create(
      const ConfigNode& config);

  // Binds, connects, and waits for the publishers (see above). Errors from
  // binding or connecting name the endpoint.
  static absl::StatusOr<std::unique_ptr<ZeroMqTransport>> Start(
      Settings settings);
  ~ZeroMqTransport() override;

  absl::string_view driver() const override { return "zeromq"; }
  Capabilities capabilities() const override;
  absl::Status DeclareQueue(absl::string_view name,
                            const QueueOptions& options) override;
  void Publish(std::vector<OutgoingMessage> batch,
               PublishCallback done) override;
  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(
      const SubscribeOptions& options, DeliveryHandler handler) override;
  absl::StatusOr<std::vector<QueueStats>> GetQueueStats(
      absl::Span<const std::string> queues) override;

  // The endpoint the publisher actually bound (the port chosen for port 0
  // or *), as other instances should `connect` to it.
  const std::string& endpoint() const { return endpoint_; }
  Counters counters() const;
  // Waits until messages of `n` distinct publishers (its own included)
  // have arrived; false on timeout.
  bool WaitForPublishers(size_t n, absl::Duration timeout);

 private:
  // One message for one queue, ready for the wire.
  struct Outgoing {
    std::string queue;
    bool last_value = false;
    std::string id;
    std::shared_ptr<const std::string> payload;
  };
  struct PendingBatch {
    std::vector<Outgoing> messages;
    PublishCallback done;
  };
  // A sent batch waiting for this instance's own subscriber to get it
  // back (connect_self): messages first_seq..last_seq.
  struct Unconfirmed {
    uint64_t first_seq = 0;
    uint64_t last_seq = 0;
    PublishCallback done;
    absl::Time deadline;
    // Of its messages, how many never came back.
    uint64_t lost = 0;
  };
  // A publisher this instance reads, through its own SUB socket, so every
  // message is known to come from it.
  struct Peer {
    std::string endpoint;
    std::unique_ptr<ZmqSocket> socket;
    // 0 until a message arrived.
    uint64_t publisher_id = 0;
    uint64_t next_seq = 0;
    // Reaches a publisher another peer already reads: ignored.
    bool duplicate = false;
  };

  explicit ZeroMqTransport(Settings settings);
  absl::Status Open();
  // Waits for the peers' first messages; see the class comment.
  absl::Status AwaitPeers();

  // I/O thread.
  void IoLoop();
  absl::Status SendBatch(const PendingBatch& batch);
  // Answers the unconfirmed batches that came back whole (OK), with losses
  // (ResourceExhausted) or not in time (Unavailable), oldest first.
  void SettleUnconfirmed();
  // Waits (at most `linger`) for the own subscriber to confirm what was
  // sent, then fails the rest.
  void SettleBeforeStop(const std::vector<ZmqSocket*>& subscribers);
  absl::Status SendControl();
  // The header of the next message (takes a sequence number).
  std::string NextHeader(bool last_value);
  // Reads the subscriptions the publisher got; greets new subscribers.
  absl::Status ReadSubscriptions();
  // Reads what every peer has (bounded per call) into the buffers.
  void ReceiveAvailable();
  // Follows the sequence of the publisher that peer `peer_index` reads,
  // counting gaps; false when the message is to be ignored (it comes
  // through a duplicate peer).
  bool Account(size_t peer_index, uint64_t publisher_id, uint64_t seq,
               Counters* delta);
  void UpdateHeardLocked(size_t peer_index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Makes sure `queue` is declared here; false when it is not and must
  // not be (declare_on_receive off).
  bool EnsureDeclared(const std::string& queue, bool last_value);
  void LogTroubles();
  // Answers the ZAP requests (CURVE client keys) that wait.
  void AnswerZap();

  const Settings settings_;
  // The receiving side's buffers and subscriptions; destroyed last, after
  // the I/O thread that feeds it.
  MemoryTransport store_;
  const uint64_t publisher_id_;
  int wake_fd_ = -1;
  std::string endpoint_;

  // Sockets: made by Start(), then used by the I/O thread only.
  std::unique_ptr<ZmqContext> context_;
  std::unique_ptr<ZmqSocket> publisher_;
  std::vector<Peer> peers_;
  // With CURVE: the ZAP handler, and the client keys (32 bytes, binary)
  // it lets in.
  std::unique_ptr<ZmqSocket> zap_;
  absl::flat_hash_set<std::string> authorized_keys_;
  std::thread io_;

  // I/O thread only.
  uint64_t next_seq_ = 1;
  std::deque<Unconfirmed> unconfirmed_;
  // The highest sequence number of our own that our subscriber got back.
  uint64_t own_received_upto_ = 0;
  absl::flat_hash_set<std::string> known_queues_;
  absl::Time next_heartbeat_ = absl::InfinitePast();
  absl::Time next_trouble_log_ = absl::InfinitePast();
  Counters logged_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<PendingBatch> outbox_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, QueueOptions> declared_ ABSL_GUARDED_BY(mu_);
  Counters counters_ ABSL_GUARDED_BY(mu_);
  // Per peer: a message arrived. And the distinct publishers heard.
  std::vector<bool> peer_heard_ ABSL_GUARDED_BY(mu_);
  size_t publishers_heard_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace switchboard::bridge::zeromq

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_ZEROMQ_ZEROMQ_TRANSPORT_H_
