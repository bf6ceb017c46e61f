// The zeromq driver's I/O thread: it owns every socket, sends what Publish
// queued, reads what arrived into the buffers, and settles the batches its
// own subscriber got back. Class and threads: zeromq_transport_impl.h.
#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/common/logging.h"
#include "services/common/status_macros.h"
#include "services/mq-bridge/transport/zeromq/zeromq_transport_impl.h"
#include "services/mq-bridge/transport/zeromq/zeromq_wire.h"

namespace switchboard::bridge::zeromq {
namespace {

// Below this, the high-water marks are too small to pace a batch by.
constexpr uint64_t kMinPacingWindow = 100;
// Per peer and turn of the I/O loop, so that sending is never starved.
constexpr int kMaxReceivePerPeer = 10000;
// Losses, drops and malformed input are logged at most this often.
constexpr absl::Duration kTroubleLogInterval = absl::Seconds(5);

std::shared_ptr<spdlog::logger> Log() { return Logger("bridge.zeromq"); }

}  // namespace

void ZeroMqTransport::IoLoop() {
  std::vector<ZmqSocket*> subscribers;
  for (const Peer& peer : peers_) subscribers.push_back(peer.socket.get());
  std::vector<ZmqSocket*> sockets = subscribers;
  sockets.push_back(publisher_.get());
  if (zap_ != nullptr) sockets.push_back(zap_->socket());
  std::vector<bool> readable;
  for (;;) {
    wake_.Drain();
    if (zap_ != nullptr) AnswerZap();
    std::deque<PendingBatch> batches;
    bool stopping;
    {
      absl::MutexLock lock(&mu_);
      batches.swap(outbox_);
      // Publish refuses new batches once this is set, so these are the
      // last ones.
      stopping = stopping_;
    }
    for (PendingBatch& batch : batches) SendTracked(batch);
    if (stopping) {
      SettleBeforeStop(subscribers);
      break;
    }
    SettleUnconfirmed();
    if (absl::Status s = ReadSubscriptions(); !s.ok()) {
      Log()->error("reading subscriptions: {}", s.ToString());
    }
    ReceiveAvailable();
    absl::Time now = absl::Now();
    if (now >= next_heartbeat_) {
      if (absl::Status s = SendControl(); !s.ok()) {
        Log()->warn("heartbeat: {}", s.ToString());
      }
    }
    LogTroubles();
    bool woken = false;
    absl::Time wake_at = next_heartbeat_;
    if (!unconfirmed_.empty()) {
      wake_at = std::min(wake_at, unconfirmed_.front().deadline);
    }
    absl::Duration wait = std::max(absl::ZeroDuration(), wake_at - absl::Now());
    if (absl::Status s = Poll(sockets, wake_.fd(), wait, &readable, &woken);
        !s.ok()) {
      Log()->error("{}", s.ToString());
      absl::SleepFor(absl::Milliseconds(10));  // no busy loop on a bad day
    }
  }
}

void ZeroMqTransport::SendTracked(PendingBatch& batch) {
  const uint64_t first_seq = next_seq_;
  const bool track = settings_.connect_self;
  // Tracked before sending: SendBatch reads our own subscriber as it
  // goes, and a gap seen then must count against this batch.
  if (track) {
    unconfirmed_.push_back(Unconfirmed{first_seq,
                                       first_seq + batch.messages.size() - 1,
                                       nullptr, absl::InfiniteFuture()});
  }
  absl::Status status = SendBatch(batch);
  if (!status.ok()) {
    Log()->error("publishing a batch of {} messages failed: {}",
                 batch.messages.size(), status.ToString());
  }
  if (track && status.ok()) {
    Unconfirmed& u = unconfirmed_.back();
    u.last_seq = next_seq_ - 1;
    u.done = std::move(batch.done);
    u.deadline = absl::Now() + settings_.connect_timeout;
  } else {
    if (track) unconfirmed_.pop_back();
    batch.done(std::move(status));
  }
  // Reading between batches keeps our own subscriber from falling
  // behind (and dropping) while a long burst is sent.
  ReceiveAvailable();
}

void ZeroMqTransport::SettleUnconfirmed() {
  const absl::Time now = absl::Now();
  while (!unconfirmed_.empty()) {
    Unconfirmed& batch = unconfirmed_.front();
    // Still being sent (SendBatch reads as it goes): settled afterwards.
    if (batch.done == nullptr) break;
    absl::Status status;
    if (batch.last_seq <= own_received_upto_) {
      if (batch.lost > 0) {
        status = absl::ResourceExhaustedError(absl::StrCat(
            batch.lost, " of the batch's ",
            batch.last_seq - batch.first_seq + 1,
            " messages were dropped before this bridge's own subscriber got "
            "them (a high-water mark was reached: transport.zeromq.send_hwm "
            "/ receive_hwm); send the batch again"));
      }
    } else if (now >= batch.deadline) {
      status = absl::UnavailableError(absl::StrCat(
          "this bridge's own subscriber did not get the batch back within "
          "transport.zeromq.connect_timeout (",
          absl::FormatDuration(settings_.connect_timeout), ")"));
    } else {
      break;  // later batches were sent later: not back either
    }
    PublishCallback done = std::move(batch.done);
    unconfirmed_.pop_front();
    done(std::move(status));
  }
}

void ZeroMqTransport::SettleBeforeStop(
    const std::vector<ZmqSocket*>& subscribers) {
  const absl::Time deadline = absl::Now() + settings_.linger;
  std::vector<bool> readable;
  bool woken;
  while (!unconfirmed_.empty() && absl::Now() < deadline) {
    Poll(subscribers, -1, absl::Milliseconds(10), &readable, &woken)
        .IgnoreError();
    ReceiveAvailable();
  }
  for (Unconfirmed& batch : unconfirmed_) {
    batch.done(absl::UnavailableError(
        "the zeromq transport stopped before the batch came back to this "
        "bridge's own subscriber"));
  }
  unconfirmed_.clear();
}

std::string ZeroMqTransport::NextHeader(bool last_value) {
  WireHeader header;
  header.last_value = last_value;
  header.publisher_id = publisher_id_;
  header.seq = next_seq_++;
  return EncodeHeader(header);
}

void ZeroMqTransport::AwaitOwnSubscriber(uint64_t window) {
  const absl::Time give_up = absl::Now() + settings_.connect_timeout;
  for (;;) {
    ReceiveAvailable();
    // Our own subscriber may be reconnecting through CURVE: its
    // handshake needs the ZAP handler, on this thread.
    if (zap_ != nullptr) AnswerZap();
    if (next_seq_ - 1 - own_received_upto_ < window || absl::Now() > give_up) {
      break;
    }
    absl::SleepFor(absl::Microseconds(100));
  }
}

absl::Status ZeroMqTransport::SendBatch(const PendingBatch& batch) {
  absl::Status status;
  uint64_t sent = 0;
  // Our own subscriber must keep up within a batch: a batch larger than the
  // high-water marks would otherwise overflow it on every attempt, fail,
  // and be sent again forever. So the bridge keeps at most a quarter of the
  // smaller mark of its own messages unread, reading as it sends: a ZeroMQ
  // writer learns what its reader consumed only every half mark, so half a
  // mark unread can already look like a full pipe to the publisher. (With
  // marks too small to pace by, overflow shows as a failed batch.)
  const uint64_t window =
      std::min(settings_.send_hwm, settings_.receive_hwm) / 4;
  const bool pace = settings_.connect_self && window >= kMinPacingWindow;
  for (const Outgoing& m : batch.messages) {
    if (pace && next_seq_ - 1 - own_received_upto_ >= window) {
      AwaitOwnSubscriber(window);
    }
    const std::string header = NextHeader(m.last_value);
    // [queue name, header, event id, payload] (zeromq_wire.h).
    const OutFrame frames[kDataFrames] = {{m.queue, nullptr},
                                          {header, nullptr},
                                          {m.id, nullptr},
                                          {*m.payload, m.payload}};
    status = publisher_->Send(frames);
    if (!status.ok()) break;
    ++sent;
  }
  absl::MutexLock lock(&mu_);
  counters_.sent += sent;
  return status;
}

absl::Status ZeroMqTransport::SendControl() {
  next_heartbeat_ = absl::Now() + settings_.heartbeat;
  const std::string header = NextHeader(/*last_value=*/false);
  // [empty topic, header, bound endpoint] (zeromq_wire.h).
  const OutFrame frames[kControlFrames] = {
      {"", nullptr}, {header, nullptr}, {endpoint_, nullptr}};
  return publisher_->Send(frames);
}

absl::Status ZeroMqTransport::ReadSubscriptions() {
  std::vector<std::string> frames;
  bool joined = false;
  for (;;) {
    SB_ASSIGN_OR_RETURN(bool got, publisher_->TryReceive(&frames));
    if (!got) break;
    // XPUB reports 1 + topic when a subscriber subscribes (also after a
    // reconnect), 0 + topic when it leaves.
    if (!frames.empty() && !frames[0].empty() && frames[0][0] == 1) {
      joined = true;
    }
  }
  // Greeting at once tells the newcomer that its subscription is in place
  // (see AwaitPeers), rather than at the next heartbeat.
  return joined ? SendControl() : absl::OkStatus();
}

void ZeroMqTransport::ReceiveAvailable() {
  Counters delta;
  std::vector<OutgoingMessage> batch;
  std::vector<std::string> frames;
  for (size_t i = 0; i < peers_.size(); ++i) {
    for (int n = 0; n < kMaxReceivePerPeer; ++n) {
      absl::StatusOr<bool> got = peers_[i].socket->TryReceive(&frames);
      if (!got.ok()) {
        Log()->error("{}", got.status().ToString());
        break;
      }
      if (!*got) break;
      absl::StatusOr<WireHeader> header = DecodeMessageHeader(frames);
      if (!header.ok()) {
        ++delta.malformed;
        continue;
      }
      if (!Account(i, header->publisher_id, header->seq, &delta)) continue;
      // Control: its header is all it says.
      if (IsControlMessage(frames)) continue;
      if (!ValidateDataMessage(frames).ok()) {
        ++delta.malformed;
        continue;
      }
      ++delta.received;
      if (!EnsureDeclared(frames[kTopicFrame], header->last_value)) {
        ++delta.unrouted;
        continue;
      }
      OutgoingMessage& m = batch.emplace_back();
      m.queues.push_back(std::move(frames[kTopicFrame]));
      m.id = std::move(frames[kIdFrame]);
      m.payload =
          std::make_shared<const std::string>(std::move(frames[kPayloadFrame]));
    }
  }
  if (!batch.empty()) {
    // Runs the handlers of subscriptions that get messages, on this thread.
    store_.Publish(std::move(batch), [](absl::Status s) {
      // Every queue is declared and the store drops instead of refusing.
      if (!s.ok()) {
        Log()->error("buffering received messages: {}", s.ToString());
      }
    });
  }
  if (delta.received + delta.lost + delta.unrouted + delta.malformed > 0) {
    absl::MutexLock lock(&mu_);
    counters_.received += delta.received;
    counters_.lost += delta.lost;
    counters_.unrouted += delta.unrouted;
    counters_.malformed += delta.malformed;
  }
  // Our own messages are in the buffers (and counted) now: their batches
  // are held.
  SettleUnconfirmed();
}

bool ZeroMqTransport::Account(size_t peer_index, uint64_t publisher_id,
                              uint64_t seq, Counters* delta) {
  const bool own = publisher_id == publisher_id_;
  const PeerSequencer::Verdict verdict =
      sequencer_.Observe(peer_index, publisher_id, seq);
  delta->lost += verdict.lost();
  if (own && verdict.lost() > 0) {
    // Messages [lost_from, lost_to) of ours never came back.
    for (Unconfirmed& batch : unconfirmed_) {
      uint64_t from = std::max(batch.first_seq, verdict.lost_from);
      uint64_t to = std::min(batch.last_seq + 1, verdict.lost_to);
      if (from < to) batch.lost += to - from;
    }
  }
  if (verdict.new_publisher) LogNewPublisher(peer_index, publisher_id, verdict);
  if (own && verdict.accept) {
    own_received_upto_ = std::max(own_received_upto_, seq);
  }
  if (verdict.new_publisher) {
    absl::MutexLock lock(&mu_);
    UpdateHeardLocked(peer_index);
  }
  return verdict.accept;
}

void ZeroMqTransport::LogNewPublisher(
    size_t peer_index, uint64_t publisher_id,
    const PeerSequencer::Verdict& verdict) const {
  const Peer& peer = peers_[peer_index];
  if (verdict.previous_publisher_id != 0) {
    Log()->info("publisher at {} restarted (id {:016x}, was {:016x})",
                peer.endpoint, publisher_id, verdict.previous_publisher_id);
  }
  if (verdict.duplicate_of.has_value()) {
    Log()->info(
        "{} reaches publisher {:016x}, already read through {}: reading it "
        "once",
        peer.endpoint, publisher_id, peers_[*verdict.duplicate_of].endpoint);
  } else {
    Log()->info("receiving from publisher {:016x} at {}{}", publisher_id,
                peer.endpoint,
                publisher_id == publisher_id_ ? " (this bridge's own)" : "");
  }
}

void ZeroMqTransport::UpdateHeardLocked(size_t peer_index) {
  peer_heard_[peer_index] = true;
  publishers_heard_ = sequencer_.DistinctPublishers();
}

bool ZeroMqTransport::EnsureDeclared(const std::string& queue,
                                     bool last_value) {
  if (known_queues_.contains(queue)) return true;
  {
    absl::MutexLock lock(&mu_);
    if (declared_.contains(queue)) {
      known_queues_.insert(queue);
      return true;
    }
  }
  if (!settings_.declare_on_receive) return false;
  QueueOptions options;
  options.last_value = last_value;
  absl::Status status = DeclareQueue(queue, options);
  // FailedPrecondition: declared here meanwhile, with other options; the
  // local declaration wins.
  if (!status.ok() && !absl::IsFailedPrecondition(status)) {
    Log()->warn("cannot declare queue '{}' on its first message: {}", queue,
                status.ToString());
    return false;
  }
  known_queues_.insert(queue);
  Log()->debug("declared queue {}{} on its first message", queue,
               last_value ? " (last-value)" : "");
  return true;
}

void ZeroMqTransport::AnswerZap() {
  const uint64_t refused = zap_->AnswerPending();
  if (refused > 0) {
    absl::MutexLock lock(&mu_);
    counters_.curve_refused += refused;
  }
}

void ZeroMqTransport::LogTroubles() {
  absl::Time now = absl::Now();
  if (now < next_trouble_log_) return;
  next_trouble_log_ = now + kTroubleLogInterval;
  Counters c = counters();
  // One warning per counter that grew: "N <what> (T in all<details>".
  struct Trouble {
    uint64_t Counters::*count;
    const char* what;
    std::string details;
  };
  const Trouble troubles[] = {
      {&Counters::lost, "messages lost on the way from publishers",
       "): a slow receiver (raise send_hwm / receive_hwm) or a reconnect"},
      {&Counters::dropped, "messages dropped, oldest first, from full queues",
       absl::StrCat("; max_queue_messages ", settings_.max_queue_messages,
                    ", max_total_bytes ", settings_.max_total_bytes, ")")},
      {&Counters::unrouted, "messages for queues not declared here dropped",
       "; declare_on_receive is off)"},
      {&Counters::curve_refused, "subscribers refused at the CURVE handshake",
       "): their key is not in curve.peer_keys or curve.authorized_keys"},
      {&Counters::malformed, "malformed messages ignored",
       "): is a non-switchboard publisher, or another protocol version, in "
       "`connect`?"},
  };
  for (const Trouble& trouble : troubles) {
    const uint64_t total = c.*trouble.count;
    const uint64_t before = logged_.*trouble.count;
    if (total > before) {
      Log()->warn("{} {} ({} in all{}", total - before, trouble.what, total,
                  trouble.details);
    }
  }
  logged_ = c;
}

}  // namespace switchboard::bridge::zeromq
