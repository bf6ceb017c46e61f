#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_ZEROMQ_ZEROMQ_TRANSPORT_IMPL_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_ZEROMQ_ZEROMQ_TRANSPORT_IMPL_H_

// Internal to the zeromq driver (and its tests): users go through
// zeromq_transport.h.

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/common/event_fd.h"
#include "services/mq-bridge/transport/memory/memory_transport.h"
#include "services/mq-bridge/transport/transport.h"
#include "services/mq-bridge/transport/zeromq/zeromq_sequencer.h"
#include "services/mq-bridge/transport/zeromq/zeromq_settings.h"
#include "services/mq-bridge/transport/zeromq/zeromq_zap.h"
#include "services/mq-bridge/transport/zeromq/zmq_socket.h"

namespace switchboard::bridge::zeromq {

// The "zeromq" driver; its behaviour is described in zeromq_transport.h.
//
// Threads: one I/O thread owns every socket (ZeroMQ sockets are not
// thread-safe). Publish queues the batch for it and wakes it through an
// eventfd; it sends, reads what arrived, and runs the subscriptions'
// handlers (through the MemoryTransport) on that thread. Destruction sends
// what Publish accepted, closes the sockets, and lets unsent messages
// linger at most `linger`.
//
// Callers' side (Start, the Transport methods, destruction) in
// zeromq_transport_impl.cc; the I/O thread in zeromq_io_thread.cc.
class ZeroMqTransport final : public Transport {
 public:
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

  // Binds, connects, and waits for the publishers (see
  // zeromq_transport.h). Errors from binding or connecting name the
  // endpoint.
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
  // message is known to come from it. Its sequence: sequencer_.
  struct Peer {
    std::string endpoint;
    std::unique_ptr<ZmqSocket> socket;
  };

  ZeroMqTransport(Settings settings, EventFd wake);
  // Opens the context, the publisher (and the ZAP handler) and the peers'
  // subscribers.
  absl::Status Open();
  // Binds the publisher; with CURVE sets `public_key` (Z85, derived from
  // the secret key).
  absl::Status OpenPublisher(std::string* public_key);
  // Opens and connects the subscriber of `endpoint` (`field`: the setting
  // that names it, for errors).
  absl::Status ConnectPeer(const std::string& endpoint,
                           const std::string& field,
                           const std::string& public_key);
  // Waits for the peers' first messages; see zeromq_transport.h.
  absl::Status AwaitPeers();

  // I/O thread.
  void IoLoop();
  // Sends one batch and, with connect_self, tracks it until it came back
  // (or answers it now).
  void SendTracked(PendingBatch& batch);
  absl::Status SendBatch(const PendingBatch& batch);
  // Before sending more, waits (at most connect_timeout) until our own
  // subscriber read all but `window` of our messages.
  void AwaitOwnSubscriber(uint64_t window);
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
  // Logs what a new publisher on peer `peer_index` means.
  void LogNewPublisher(size_t peer_index, uint64_t publisher_id,
                       const PeerSequencer::Verdict& verdict) const;
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
  // Wakes the I/O thread: Publish and destruction signal it.
  const EventFd wake_;
  std::string endpoint_;

  // Sockets: made by Start(), then used by the I/O thread only.
  std::unique_ptr<ZmqContext> context_;
  std::unique_ptr<ZmqSocket> publisher_;
  std::vector<Peer> peers_;
  // With CURVE: the ZAP handler, which lets the authorized client keys in.
  std::unique_ptr<ZapHandler> zap_;
  std::thread io_;

  // I/O thread only (and Open, before it starts).
  PeerSequencer sequencer_{0};
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

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_ZEROMQ_ZEROMQ_TRANSPORT_IMPL_H_
