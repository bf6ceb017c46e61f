// The zeromq driver's callers' side: starting, the Transport methods and
// destruction. The I/O thread is in zeromq_io_thread.cc.
#include "services/mq-bridge/transport/zeromq/zeromq_transport_impl.h"

#include <zmq.h>

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/common/logging.h"
#include "services/common/status_macros.h"

namespace switchboard::bridge::zeromq {
namespace {

std::shared_ptr<spdlog::logger> Log() { return Logger("bridge.zeromq"); }

bool IsIpv6(absl::string_view endpoint) {
  return absl::StartsWith(endpoint, "tcp://[");
}

// Where this instance reaches its own publisher: a wildcard address is
// where it listens, not one to connect to.
std::string SelfEndpoint(const std::string& bound) {
  for (const auto& [any, loopback] :
       {std::pair<absl::string_view, absl::string_view>{"tcp://0.0.0.0:",
                                                        "tcp://127.0.0.1:"},
        {"tcp://[::]:", "tcp://[::1]:"}}) {
    if (absl::StartsWith(bound, any)) {
      return absl::StrCat(loopback, bound.substr(any.size()));
    }
  }
  return bound;
}

MemoryTransport::Settings StoreSettings(const Settings& settings) {
  MemoryTransport::Settings store;
  store.max_queue_depth = settings.max_queue_messages;
  store.max_total_bytes = settings.max_total_bytes;
  store.max_deliveries = settings.max_deliveries;
  // Publishers cannot be pushed back on: make room instead.
  store.overflow = MemoryTransport::Overflow::kDropOldest;
  return store;
}

uint64_t NewPublisherId() {
  absl::BitGen gen;
  // 0 means "none heard yet" to receivers.
  return absl::Uniform<uint64_t>(absl::IntervalClosed, gen, 1,
                                 std::numeric_limits<uint64_t>::max());
}

}  // namespace

ZeroMqTransport::ZeroMqTransport(Settings settings, EventFd wake)
    : settings_(std::move(settings)),
      store_(StoreSettings(settings_)),
      publisher_id_(NewPublisherId()),
      wake_(std::move(wake)) {}

absl::StatusOr<std::unique_ptr<ZeroMqTransport>> ZeroMqTransport::Start(
    Settings settings) {
  absl::StatusOr<EventFd> wake = EventFd::Create();
  if (!wake.ok()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("zeromq: ", wake.status().message()));
  }
  auto transport = std::unique_ptr<ZeroMqTransport>(
      new ZeroMqTransport(std::move(settings), *std::move(wake)));
  SB_RETURN_IF_ERROR(transport->Open());
  // Starting the thread hands it the sockets (a memory barrier).
  transport->io_ = std::thread([t = transport.get()] { t->IoLoop(); });
  SB_RETURN_IF_ERROR(transport->AwaitPeers());
  return transport;
}

absl::Status ZeroMqTransport::Open() {
  SB_ASSIGN_OR_RETURN(context_, ZmqContext::Create());
  std::string public_key;
  SB_RETURN_IF_ERROR(OpenPublisher(&public_key));

  std::vector<std::pair<std::string, std::string>> reads;  // endpoint, field
  if (settings_.connect_self) {
    reads.emplace_back(SelfEndpoint(endpoint_),
                       "transport.zeromq.connect_self");
  }
  for (size_t i = 0; i < settings_.connect.size(); ++i) {
    reads.emplace_back(settings_.connect[i],
                       absl::StrCat("transport.zeromq.connect[", i, "]"));
  }
  for (const auto& [endpoint, field] : reads) {
    SB_RETURN_IF_ERROR(ConnectPeer(endpoint, field, public_key));
  }
  sequencer_ = PeerSequencer(peers_.size());
  {
    absl::MutexLock lock(&mu_);
    peer_heard_.assign(peers_.size(), false);
  }
  std::vector<std::string> endpoints;
  for (const Peer& peer : peers_) endpoints.push_back(peer.endpoint);
  Log()->info(
      "publishing on {} (bind {}), publisher id {:016x}; {}", endpoint_,
      settings_.bind, publisher_id_,
      endpoints.empty()
          ? std::string("receiving from nobody (publish only)")
          : absl::StrCat("receiving from ", absl::StrJoin(endpoints, ", ")));
  return absl::OkStatus();
}

absl::Status ZeroMqTransport::OpenPublisher(std::string* public_key) {
  SB_ASSIGN_OR_RETURN(
      publisher_,
      ZmqSocket::Open(*context_, ZmqSocket::Type::kXPub, "zeromq publisher"));
  SB_RETURN_IF_ERROR(publisher_->SetLinger(settings_.linger));
  SB_RETURN_IF_ERROR(
      publisher_->SetHighWaterMarks(static_cast<int>(settings_.send_hwm),
                                    static_cast<int>(settings_.receive_hwm)));
  SB_RETURN_IF_ERROR(publisher_->SetHeartbeat(settings_.heartbeat));
  SB_RETURN_IF_ERROR(publisher_->ReportEverySubscription());
  if (!settings_.curve.secret_key.empty()) {
    // The ZAP handler must be bound before a CURVE server takes clients.
    SB_ASSIGN_OR_RETURN(zap_, ZapHandler::Open(*context_));
    char derived[41];
    if (zmq_curve_public(derived, settings_.curve.secret_key.c_str()) != 0) {
      return absl::InvalidArgumentError(
          "transport.zeromq.curve.secret_key_file: not a CURVE secret key");
    }
    *public_key = derived;
    // Its own key and its peers' always may subscribe.
    zap_->Authorize(*public_key);
    for (const auto& [endpoint, key] : settings_.curve.peer_keys) {
      zap_->Authorize(key);
    }
    for (const std::string& key : settings_.curve.authorized_keys) {
      zap_->Authorize(key);
    }
    SB_RETURN_IF_ERROR(publisher_->SetCurveServer(settings_.curve.secret_key));
  }
  if (IsIpv6(settings_.bind)) SB_RETURN_IF_ERROR(publisher_->EnableIpv6());
  if (absl::Status s = publisher_->Bind(settings_.bind); !s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat("transport.zeromq.bind: ", s.message()));
  }
  SB_ASSIGN_OR_RETURN(endpoint_, publisher_->LastEndpoint());
  return absl::OkStatus();
}

absl::Status ZeroMqTransport::ConnectPeer(const std::string& endpoint,
                                          const std::string& field,
                                          const std::string& public_key) {
  Peer& peer = peers_.emplace_back();
  peer.endpoint = endpoint;
  SB_ASSIGN_OR_RETURN(
      peer.socket,
      ZmqSocket::Open(*context_, ZmqSocket::Type::kSub,
                      absl::StrCat("zeromq subscriber of ", endpoint)));
  // A subscriber sends nothing worth waiting for at close.
  SB_RETURN_IF_ERROR(peer.socket->SetLinger(absl::ZeroDuration()));
  SB_RETURN_IF_ERROR(
      peer.socket->SetHighWaterMarks(static_cast<int>(settings_.send_hwm),
                                     static_cast<int>(settings_.receive_hwm)));
  SB_RETURN_IF_ERROR(peer.socket->SetHeartbeat(settings_.heartbeat));
  if (IsIpv6(endpoint)) SB_RETURN_IF_ERROR(peer.socket->EnableIpv6());
  SB_RETURN_IF_ERROR(peer.socket->SubscribeAll());
  if (zap_ != nullptr) {
    auto key = settings_.curve.peer_keys.find(endpoint);
    SB_RETURN_IF_ERROR(peer.socket->SetCurveClient(
        key != settings_.curve.peer_keys.end() ? key->second : public_key,
        public_key, settings_.curve.secret_key));
  }
  if (absl::Status s = peer.socket->Connect(endpoint); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(field, ": ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status ZeroMqTransport::AwaitPeers() {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(
                           +[](std::vector<bool>* heard) {
                             return std::all_of(heard->begin(), heard->end(),
                                                [](bool h) { return h; });
                           },
                           &peer_heard_),
                       settings_.connect_timeout);
  if (settings_.connect_self && !peer_heard_[0]) {
    // Its own publisher over loopback: something is broken, and every
    // event published meanwhile would be lost.
    return absl::UnavailableError(
        absl::StrCat("zeromq: no message from its own publisher at ",
                     peers_[0].endpoint, " within connect_timeout (",
                     absl::FormatDuration(settings_.connect_timeout), ")"));
  }
  std::vector<std::string> silent;
  for (size_t i = 0; i < peers_.size(); ++i) {
    if (!peer_heard_[i]) silent.push_back(peers_[i].endpoint);
  }
  if (!silent.empty()) {
    Log()->warn(
        "no message yet from {} after {}; receiving from them once they are "
        "up (what they publish before is not received here)",
        absl::StrJoin(silent, ", "),
        absl::FormatDuration(settings_.connect_timeout));
  }
  return absl::OkStatus();
}

ZeroMqTransport::~ZeroMqTransport() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (io_.joinable()) {
    wake_.Signal();
    io_.join();
  }
  std::deque<PendingBatch> unsent;
  {
    absl::MutexLock lock(&mu_);
    unsent.swap(outbox_);
  }
  for (PendingBatch& batch : unsent) {
    batch.done(absl::UnavailableError("the zeromq transport stopped"));
  }
  peers_.clear();
  publisher_.reset();
  // Every socket closes before the context, which otherwise waits for it.
  zap_.reset();
  // Waits for the publisher's unsent messages, at most `linger`.
  context_.reset();
  // wake_ closes with the members.
}

Capabilities ZeroMqTransport::capabilities() const {
  // What the receiving bridge's buffers give (see zeromq_transport.h); on
  // the way there, nothing is stored or acknowledged.
  Capabilities caps;
  caps.durable = false;
  caps.acks = true;
  caps.last_value = true;
  caps.ordered_requeue = true;
  // Held by this bridge, only sent to the others.
  caps.confirmed_delivery = false;
  // Each receiving bridge applies them to its own copy of the queue; what a
  // reject-publish queue refuses there is counted there, not reported to
  // the sender.
  caps.queue_limits = true;
  caps.drop_counters = true;
  caps.exact_limits = true;
  caps.max_deliveries = settings_.max_deliveries;
  return caps;
}

absl::Status ZeroMqTransport::DeclareQueue(absl::string_view name,
                                           const QueueOptions& options) {
  // The store validates the name and refuses other options.
  SB_RETURN_IF_ERROR(store_.DeclareQueue(name, options));
  absl::MutexLock lock(&mu_);
  declared_.try_emplace(std::string(name), options);
  return absl::OkStatus();
}

void ZeroMqTransport::Publish(std::vector<OutgoingMessage> batch,
                              PublishCallback done) {
  if (batch.empty()) {
    done(absl::OkStatus());
    return;
  }
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    PendingBatch pending;
    if (stopping_) {
      status = absl::UnavailableError("the zeromq transport is stopping");
    }
    for (size_t i = 0; i < batch.size() && status.ok(); ++i) {
      OutgoingMessage& m = batch[i];
      for (const std::string& queue : m.queues) {
        auto it = declared_.find(queue);
        if (it == declared_.end()) {
          status = absl::NotFoundError(
              absl::StrCat("queue '", queue, "' is not declared"));
          break;
        }
        pending.messages.push_back(
            Outgoing{queue, it->second.last_value, m.id, m.payload});
      }
    }
    if (status.ok()) {
      pending.done = std::move(done);
      outbox_.push_back(std::move(pending));
    }
  }
  if (!status.ok()) {
    done(status);
    return;
  }
  wake_.Signal();
}

absl::StatusOr<std::unique_ptr<Subscription>> ZeroMqTransport::Subscribe(
    const SubscribeOptions& options, DeliveryHandler handler) {
  return store_.Subscribe(options, std::move(handler));
}

absl::StatusOr<std::vector<QueueStats>> ZeroMqTransport::GetQueueStats(
    absl::Span<const std::string> queues) {
  return store_.GetQueueStats(queues);
}

ZeroMqTransport::Counters ZeroMqTransport::counters() const {
  Counters counters;
  {
    absl::MutexLock lock(&mu_);
    counters = counters_;
  }
  counters.dropped = store_.dropped();
  return counters;
}

bool ZeroMqTransport::WaitForPublishers(size_t n, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  std::pair<size_t*, size_t> arg{&publishers_heard_, n};
  return mu_.AwaitWithTimeout(
      absl::Condition(
          +[](std::pair<size_t*, size_t>* a) { return *a->first >= a->second; },
          &arg),
      timeout);
}

}  // namespace switchboard::bridge::zeromq
