#include "services/mq-bridge/transport/zeromq/zeromq_transport.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zmq.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "services/common/logging.h"
#include "services/common/queue_name.h"
#include "services/common/status_macros.h"
#include "services/mq-bridge/transport/registry.h"

namespace switchboard::bridge::zeromq {
namespace {

// Below this, the high-water marks are too small to pace a batch by.
constexpr uint64_t kMinPacingWindow = 100;

constexpr char kProtocolVersion = 1;
// version, flags, publisher id, sequence number.
constexpr size_t kHeaderSize = 1 + 1 + 8 + 8;
constexpr char kFlagLastValue = 1;
// Per peer and turn of the I/O loop, so that sending is never starved.
constexpr int kMaxReceivePerPeer = 10000;
// Losses, drops and malformed input are logged at most this often.
constexpr absl::Duration kTroubleLogInterval = absl::Seconds(5);

std::shared_ptr<spdlog::logger> Log() { return Logger("bridge.zeromq"); }

void PutBigEndian(uint64_t value, char* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
}

uint64_t GetBigEndian(const char* in) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) {
    value = (value << 8) | static_cast<unsigned char>(in[i]);
  }
  return value;
}

struct WireHeader {
  bool last_value = false;
  uint64_t publisher_id = 0;
  uint64_t seq = 0;
};

bool ParseHeader(absl::string_view bytes, WireHeader* header) {
  if (bytes.size() != kHeaderSize || bytes[0] != kProtocolVersion) {
    return false;
  }
  header->last_value = (bytes[1] & kFlagLastValue) != 0;
  header->publisher_id = GetBigEndian(bytes.data() + 2);
  header->seq = GetBigEndian(bytes.data() + 10);
  return true;
}

// Why `endpoint` is not usable ("" when it is). ZeroMQ accepts more
// transports (inproc, pgm, ...), but only these reach another process.
std::string EndpointProblem(absl::string_view endpoint, bool bind) {
  const std::string usage = bind ? "tcp://host:port (port * or 0 for any) or "
                                   "ipc:///path"
                                 : "tcp://host:port or ipc:///path";
  if (absl::ConsumePrefix(&endpoint, "ipc://")) {
    return endpoint.empty() ? "ipc:// needs a path, e.g. ipc:///run/zmq.sock"
                            : "";
  }
  if (!absl::ConsumePrefix(&endpoint, "tcp://")) {
    return absl::StrCat("unsupported endpoint '", endpoint, "': use ", usage);
  }
  size_t colon = endpoint.rfind(':');
  if (colon == absl::string_view::npos) {
    return absl::StrCat("'tcp://", endpoint, "' has no port: use ", usage);
  }
  absl::string_view host = endpoint.substr(0, colon);
  absl::string_view port = endpoint.substr(colon + 1);
  if (host.empty()) return absl::StrCat("'tcp://", endpoint, "' has no host");
  if (absl::StartsWith(host, "[") != absl::EndsWith(host, "]")) {
    return absl::StrCat("'tcp://", endpoint,
                        "': write IPv6 addresses in brackets, e.g. [::1]");
  }
  if (!bind && host == "*") {
    return absl::StrCat("'tcp://", endpoint,
                        "': connect needs the publisher's host, not *");
  }
  if (bind && port == "*") return "";
  uint32_t number = 0;
  if (!absl::SimpleAtoi(port, &number) || number > 65535 ||
      (!bind && number == 0)) {
    return absl::StrCat("'tcp://", endpoint, "' has no valid port (",
                        bind ? "0" : "1", " to 65535", bind ? ", or *" : "",
                        ")");
  }
  return "";
}

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

void SignalEventFd(int fd) {
  uint64_t one = 1;
  // EAGAIN only when the counter is already huge: the thread wakes anyway.
  while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
}

void DrainEventFd(int fd) {
  uint64_t value;
  while (read(fd, &value, sizeof(value)) < 0 && errno == EINTR) {
  }
}

}  // namespace

namespace {

// A Z85 CURVE key's 32 bytes; empty when `z85` is not one.
std::string DecodeKey(const std::string& z85) {
  if (z85.size() != 40) return "";
  std::string key(32, '\0');
  if (zmq_z85_decode(reinterpret_cast<uint8_t*>(key.data()), z85.c_str()) ==
      nullptr) {
    return "";
  }
  return key;
}

std::string EncodeKey(const std::string& key) {
  char z85[41];
  zmq_z85_encode(z85, reinterpret_cast<const uint8_t*>(key.data()), 32);
  return z85;
}

// `transport.zeromq.curve`: errors name the field and never quote the
// secret key.
absl::Status ParseCurve(const ConfigNode& config,
                        ZeroMqTransport::Settings* s) {
  SB_ASSIGN_OR_RETURN(ConfigNode curve, config.Child("curve"));
  SB_ASSIGN_OR_RETURN(ConfigNode peer_keys, curve.Child("peer_keys"));
  std::string secret_file;
  SB_RETURN_IF_ERROR(curve.Get("secret_key_file", &secret_file));
  for (const std::string& endpoint : peer_keys.Keys()) {
    std::string key;
    SB_RETURN_IF_ERROR(peer_keys.Get(endpoint, &key));
    if (DecodeKey(key).empty()) {
      return peer_keys.Error(endpoint,
                             "is not a Z85 CURVE public key (40 characters)");
    }
    s->curve.peer_keys[endpoint] = key;
  }
  SB_RETURN_IF_ERROR(curve.Get("authorized_keys", &s->curve.authorized_keys));
  SB_RETURN_IF_ERROR(peer_keys.CheckAllKeysKnown());
  SB_RETURN_IF_ERROR(curve.CheckAllKeysKnown());
  for (size_t i = 0; i < s->curve.authorized_keys.size(); ++i) {
    if (DecodeKey(s->curve.authorized_keys[i]).empty()) {
      return curve.Error(absl::StrCat("authorized_keys[", i, "]"),
                         "is not a Z85 CURVE public key (40 characters)");
    }
  }
  if (secret_file.empty()) {
    if (!s->curve.peer_keys.empty() || !s->curve.authorized_keys.empty()) {
      return curve.Error("secret_key_file",
                         "must be set for CURVE (peer_keys and "
                         "authorized_keys need it)");
    }
    return absl::OkStatus();
  }
  if (!zmq_has("curve")) {
    return curve.Error("secret_key_file",
                       "this libzmq was built without CURVE");
  }
  std::ifstream in(secret_file);
  if (!in) {
    return curve.Error("secret_key_file",
                       absl::StrCat("cannot read '", secret_file, "'"));
  }
  std::stringstream text;
  text << in.rdbuf();
  s->curve.secret_key = std::string(absl::StripAsciiWhitespace(text.str()));
  if (DecodeKey(s->curve.secret_key).empty()) {
    return curve.Error(
        "secret_key_file",
        absl::StrCat("'", secret_file,
                     "' does not hold a Z85 CURVE secret key (40 characters; "
                     "make one with tools/curve-keygen)"));
  }
  for (size_t i = 0; i < s->connect.size(); ++i) {
    if (s->curve.peer_keys.count(s->connect[i]) == 0) {
      return curve.Error("peer_keys", absl::StrCat("has no key for connect[", i,
                                                   "] '", s->connect[i], "'"));
    }
  }
  for (const auto& [endpoint, key] : s->curve.peer_keys) {
    if (std::find(s->connect.begin(), s->connect.end(), endpoint) ==
        s->connect.end()) {
      return peer_keys.Error(endpoint, "is not in connect");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ZeroMqTransport::Settings> ZeroMqTransport::ParseSettings(
    const ConfigNode& config) {
  Settings s;
  SB_RETURN_IF_ERROR(config.Get("bind", &s.bind));
  SB_RETURN_IF_ERROR(config.Get("connect", &s.connect));
  SB_RETURN_IF_ERROR(config.Get("connect_self", &s.connect_self));
  SB_RETURN_IF_ERROR(config.Get("declare_on_receive", &s.declare_on_receive));
  SB_RETURN_IF_ERROR(config.Get("send_hwm", &s.send_hwm));
  SB_RETURN_IF_ERROR(config.Get("receive_hwm", &s.receive_hwm));
  SB_RETURN_IF_ERROR(config.Get("max_queue_messages", &s.max_queue_messages));
  SB_RETURN_IF_ERROR(config.Get("max_deliveries", &s.max_deliveries));
  SB_RETURN_IF_ERROR(config.Get("max_total_bytes", &s.max_total_bytes));
  SB_RETURN_IF_ERROR(config.Get("linger", &s.linger));
  SB_RETURN_IF_ERROR(config.Get("heartbeat", &s.heartbeat));
  SB_RETURN_IF_ERROR(config.Get("connect_timeout", &s.connect_timeout));
  SB_RETURN_IF_ERROR(ParseCurve(config, &s));
  SB_RETURN_IF_ERROR(config.CheckAllKeysKnown());

  if (std::string problem = EndpointProblem(s.bind, /*bind=*/true);
      !problem.empty()) {
    return config.Error("bind", problem);
  }
  for (size_t i = 0; i < s.connect.size(); ++i) {
    const std::string key = absl::StrCat("connect[", i, "]");
    if (std::string problem = EndpointProblem(s.connect[i], /*bind=*/false);
        !problem.empty()) {
      return config.Error(key, problem);
    }
    auto first = std::find(s.connect.begin(), s.connect.end(), s.connect[i]);
    if (first != s.connect.begin() + i) {
      return config.Error(key, absl::StrCat("'", s.connect[i],
                                            "' is listed twice (also connect[",
                                            first - s.connect.begin(), "])"));
    }
  }
  // ZeroMQ takes an int; 0 would mean no limit, hence no bound on memory.
  constexpr uint32_t kMaxHwm = std::numeric_limits<int>::max();
  if (s.send_hwm == 0 || s.send_hwm > kMaxHwm) {
    return config.Error("send_hwm", absl::StrCat("must be 1 to ", kMaxHwm));
  }
  if (s.receive_hwm == 0 || s.receive_hwm > kMaxHwm) {
    return config.Error("receive_hwm", absl::StrCat("must be 1 to ", kMaxHwm));
  }
  if (s.max_queue_messages == 0) {
    return config.Error("max_queue_messages", "must be at least 1");
  }
  if (s.max_total_bytes == 0) {
    return config.Error("max_total_bytes", "must be at least 1");
  }
  if (s.linger < absl::ZeroDuration()) {
    return config.Error("linger", "must not be negative");
  }
  if (s.linger > absl::Minutes(1)) {
    return config.Error("linger", "must be at most 1m (it delays shutdown)");
  }
  if (s.heartbeat < absl::Milliseconds(10) || s.heartbeat > absl::Hours(1)) {
    return config.Error("heartbeat", "must be 10ms to 1h");
  }
  if (s.connect_timeout < absl::Milliseconds(1) ||
      s.connect_timeout > absl::Minutes(5)) {
    return config.Error("connect_timeout", "must be 1ms to 5m");
  }
  return s;
}

absl::StatusOr<std::unique_ptr<Transport>> ZeroMqTransport::Create(
    const ConfigNode& config) {
  SB_ASSIGN_OR_RETURN(Settings settings, ParseSettings(config));
  SB_ASSIGN_OR_RETURN(std::unique_ptr<ZeroMqTransport> transport,
                      Start(std::move(settings)));
  return transport;
}

namespace {

MemoryTransport::Settings StoreSettings(
    const ZeroMqTransport::Settings& settings) {
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

ZeroMqTransport::ZeroMqTransport(Settings settings)
    : settings_(std::move(settings)),
      store_(StoreSettings(settings_)),
      publisher_id_(NewPublisherId()) {}

absl::StatusOr<std::unique_ptr<ZeroMqTransport>> ZeroMqTransport::Start(
    Settings settings) {
  auto transport = std::unique_ptr<ZeroMqTransport>(
      new ZeroMqTransport(std::move(settings)));
  SB_RETURN_IF_ERROR(transport->Open());
  // Starting the thread hands it the sockets (a memory barrier).
  transport->io_ = std::thread([t = transport.get()] { t->IoLoop(); });
  SB_RETURN_IF_ERROR(transport->AwaitPeers());
  return transport;
}

absl::Status ZeroMqTransport::Open() {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("zeromq: eventfd: ", std::strerror(errno)));
  }
  SB_ASSIGN_OR_RETURN(context_, ZmqContext::Create());
  SB_ASSIGN_OR_RETURN(
      publisher_,
      ZmqSocket::Open(*context_, ZmqSocket::Type::kXPub, "zeromq publisher"));
  SB_RETURN_IF_ERROR(publisher_->SetLinger(settings_.linger));
  SB_RETURN_IF_ERROR(
      publisher_->SetHighWaterMarks(static_cast<int>(settings_.send_hwm),
                                    static_cast<int>(settings_.receive_hwm)));
  SB_RETURN_IF_ERROR(publisher_->SetHeartbeat(settings_.heartbeat));
  SB_RETURN_IF_ERROR(publisher_->ReportEverySubscription());
  std::string public_key;
  const bool curve = !settings_.curve.secret_key.empty();
  if (curve) {
    // The ZAP handler must be bound before a CURVE server takes clients.
    SB_ASSIGN_OR_RETURN(zap_, ZmqSocket::Open(*context_, ZmqSocket::Type::kRep,
                                              "zeromq ZAP handler"));
    SB_RETURN_IF_ERROR(zap_->SetLinger(absl::ZeroDuration()));
    SB_RETURN_IF_ERROR(zap_->Bind("inproc://zeromq.zap.01"));
    char derived[41];
    if (zmq_curve_public(derived, settings_.curve.secret_key.c_str()) != 0) {
      return absl::InvalidArgumentError(
          "transport.zeromq.curve.secret_key_file: not a CURVE secret key");
    }
    public_key = derived;
    authorized_keys_.insert(DecodeKey(public_key));
    for (const auto& [endpoint, key] : settings_.curve.peer_keys) {
      authorized_keys_.insert(DecodeKey(key));
    }
    for (const std::string& key : settings_.curve.authorized_keys) {
      authorized_keys_.insert(DecodeKey(key));
    }
    SB_RETURN_IF_ERROR(publisher_->SetCurveServer(settings_.curve.secret_key));
  }
  if (IsIpv6(settings_.bind)) SB_RETURN_IF_ERROR(publisher_->EnableIpv6());
  if (absl::Status s = publisher_->Bind(settings_.bind); !s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat("transport.zeromq.bind: ", s.message()));
  }
  SB_ASSIGN_OR_RETURN(endpoint_, publisher_->LastEndpoint());

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
    Peer& peer = peers_.emplace_back();
    peer.endpoint = endpoint;
    SB_ASSIGN_OR_RETURN(
        peer.socket,
        ZmqSocket::Open(*context_, ZmqSocket::Type::kSub,
                        absl::StrCat("zeromq subscriber of ", endpoint)));
    // A subscriber sends nothing worth waiting for at close.
    SB_RETURN_IF_ERROR(peer.socket->SetLinger(absl::ZeroDuration()));
    SB_RETURN_IF_ERROR(peer.socket->SetHighWaterMarks(
        static_cast<int>(settings_.send_hwm),
        static_cast<int>(settings_.receive_hwm)));
    SB_RETURN_IF_ERROR(peer.socket->SetHeartbeat(settings_.heartbeat));
    if (IsIpv6(endpoint)) SB_RETURN_IF_ERROR(peer.socket->EnableIpv6());
    SB_RETURN_IF_ERROR(peer.socket->SubscribeAll());
    if (curve) {
      auto key = settings_.curve.peer_keys.find(endpoint);
      SB_RETURN_IF_ERROR(peer.socket->SetCurveClient(
          key != settings_.curve.peer_keys.end() ? key->second : public_key,
          public_key, settings_.curve.secret_key));
    }
    if (absl::Status s = peer.socket->Connect(endpoint); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(field, ": ", s.message()));
    }
  }
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
    SignalEventFd(wake_fd_);
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
  if (wake_fd_ >= 0) close(wake_fd_);
}

Capabilities ZeroMqTransport::capabilities() const {
  // What the receiving bridge's buffers give (see the class comment); on
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
  SignalEventFd(wake_fd_);
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

// ---- I/O thread ----

void ZeroMqTransport::IoLoop() {
  std::vector<ZmqSocket*> subscribers;
  for (const Peer& peer : peers_) subscribers.push_back(peer.socket.get());
  std::vector<ZmqSocket*> sockets = subscribers;
  sockets.push_back(publisher_.get());
  if (zap_ != nullptr) sockets.push_back(zap_.get());
  std::vector<bool> readable;
  for (;;) {
    DrainEventFd(wake_fd_);
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
    for (PendingBatch& batch : batches) {
      const uint64_t first_seq = next_seq_;
      const bool track = settings_.connect_self;
      // Tracked before sending: SendBatch reads our own subscriber as it
      // goes, and a gap seen then must count against this batch.
      if (track) {
        unconfirmed_.push_back(
            Unconfirmed{first_seq, first_seq + batch.messages.size() - 1,
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
    if (absl::Status s = Poll(sockets, wake_fd_, wait, &readable, &woken);
        !s.ok()) {
      Log()->error("{}", s.ToString());
      absl::SleepFor(absl::Milliseconds(10));  // no busy loop on a bad day
    }
  }
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
  std::string header(kHeaderSize, '\0');
  header[0] = kProtocolVersion;
  header[1] = last_value ? kFlagLastValue : 0;
  PutBigEndian(publisher_id_, &header[2]);
  PutBigEndian(next_seq_++, &header[10]);
  return header;
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
      const absl::Time give_up = absl::Now() + settings_.connect_timeout;
      for (;;) {
        ReceiveAvailable();
        // Our own subscriber may be reconnecting through CURVE: its
        // handshake needs the ZAP handler, on this thread.
        if (zap_ != nullptr) AnswerZap();
        if (next_seq_ - 1 - own_received_upto_ < window ||
            absl::Now() > give_up) {
          break;
        }
        absl::SleepFor(absl::Microseconds(100));
      }
    }
    const std::string header = NextHeader(m.last_value);
    const OutFrame frames[] = {{m.queue, nullptr},
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
  const OutFrame frames[] = {
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
      WireHeader header;
      if (frames.size() < 2 || !ParseHeader(frames[1], &header)) {
        ++delta.malformed;
        continue;
      }
      if (!Account(i, header.publisher_id, header.seq, &delta)) continue;
      if (frames[0].empty()) continue;  // control: its header is all it says
      if (frames.size() != 4 || !ValidateQueueName(frames[0]).ok()) {
        ++delta.malformed;
        continue;
      }
      ++delta.received;
      if (!EnsureDeclared(frames[0], header.last_value)) {
        ++delta.unrouted;
        continue;
      }
      OutgoingMessage& m = batch.emplace_back();
      m.queues.push_back(std::move(frames[0]));
      m.id = std::move(frames[2]);
      m.payload = std::make_shared<const std::string>(std::move(frames[3]));
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
  Peer& peer = peers_[peer_index];
  const bool own = publisher_id == publisher_id_;
  if (publisher_id == peer.publisher_id) {
    if (peer.duplicate) return false;
    // Within one connection ZeroMQ keeps order: a gap is loss.
    if (seq > peer.next_seq) {
      delta->lost += seq - peer.next_seq;
      if (own) {
        // Messages [next_seq, seq) of ours never came back.
        for (Unconfirmed& batch : unconfirmed_) {
          uint64_t from = std::max(batch.first_seq, peer.next_seq);
          uint64_t to = std::min(batch.last_seq + 1, seq);
          if (from < to) batch.lost += to - from;
        }
      }
    }
    if (seq >= peer.next_seq) peer.next_seq = seq + 1;
    if (own) own_received_upto_ = std::max(own_received_upto_, seq);
    return true;
  }
  // The first message from this peer, or its publisher restarted (new id).
  // What it published before we connected is not loss: we were not there.
  if (peer.publisher_id != 0) {
    Log()->info("publisher at {} restarted (id {:016x}, was {:016x})",
                peer.endpoint, publisher_id, peer.publisher_id);
  }
  peer.publisher_id = publisher_id;
  peer.next_seq = seq + 1;
  peer.duplicate = false;
  for (size_t j = 0; j < peers_.size(); ++j) {
    if (j != peer_index && !peers_[j].duplicate &&
        peers_[j].publisher_id == publisher_id) {
      peer.duplicate = true;
      Log()->info(
          "{} reaches publisher {:016x}, already read through {}: reading it "
          "once",
          peer.endpoint, publisher_id, peers_[j].endpoint);
    }
  }
  if (!peer.duplicate) {
    Log()->info("receiving from publisher {:016x} at {}{}", publisher_id,
                peer.endpoint, own ? " (this bridge's own)" : "");
    if (own) own_received_upto_ = std::max(own_received_upto_, seq);
  }
  absl::MutexLock lock(&mu_);
  UpdateHeardLocked(peer_index);
  return !peer.duplicate;
}

void ZeroMqTransport::UpdateHeardLocked(size_t peer_index) {
  peer_heard_[peer_index] = true;
  absl::flat_hash_set<uint64_t> ids;
  for (const Peer& peer : peers_) {
    if (peer.publisher_id != 0) ids.insert(peer.publisher_id);
  }
  publishers_heard_ = ids.size();
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
  std::vector<std::string> request;
  for (;;) {
    absl::StatusOr<bool> got = zap_->TryReceive(&request);
    if (!got.ok()) {
      Log()->error("{}", got.status().ToString());
      // A REP socket that read part of a request must answer before it can
      // read again: refuse it (a socket that read nothing rejects this).
      const OutFrame failure[] = {
          {"1.0"}, {""}, {"500"}, {"ZAP request unreadable"}, {""}, {""}};
      zap_->Send(failure).IgnoreError();
      return;
    }
    if (!*got) return;
    // ZAP 1.0: version, request id, domain, address, routing id,
    // mechanism, credentials (for CURVE: the client's public key).
    const bool allowed = request.size() >= 7 && request[0] == "1.0" &&
                         request[5] == "CURVE" &&
                         authorized_keys_.contains(request[6]);
    if (!allowed) {
      absl::MutexLock lock(&mu_);
      ++counters_.curve_refused;
      if (request.size() >= 7 && request[6].size() == 32) {
        Log()->debug("refused CURVE key {} from {}", EncodeKey(request[6]),
                     request[3]);
      }
    }
    const std::string id = request.size() > 1 ? request[1] : "";
    const OutFrame reply[] = {{"1.0"},
                              {id},
                              {allowed ? "200" : "400"},
                              {allowed ? "OK" : "CURVE key not authorized"},
                              {""},
                              {""}};
    if (absl::Status s = zap_->Send(reply); !s.ok()) {
      Log()->error("ZAP reply: {}", s.ToString());
    }
  }
}

void ZeroMqTransport::LogTroubles() {
  absl::Time now = absl::Now();
  if (now < next_trouble_log_) return;
  next_trouble_log_ = now + kTroubleLogInterval;
  Counters c = counters();
  if (c.lost > logged_.lost) {
    Log()->warn(
        "{} messages lost on the way from publishers ({} in all): a slow "
        "receiver (raise send_hwm / receive_hwm) or a reconnect",
        c.lost - logged_.lost, c.lost);
  }
  if (c.dropped > logged_.dropped) {
    Log()->warn(
        "{} messages dropped, oldest first, from full queues ({} in all; "
        "max_queue_messages {}, max_total_bytes {})",
        c.dropped - logged_.dropped, c.dropped, settings_.max_queue_messages,
        settings_.max_total_bytes);
  }
  if (c.unrouted > logged_.unrouted) {
    Log()->warn(
        "{} messages for queues not declared here dropped ({} in all; "
        "declare_on_receive is off)",
        c.unrouted - logged_.unrouted, c.unrouted);
  }
  if (c.curve_refused > logged_.curve_refused) {
    Log()->warn(
        "{} subscribers refused at the CURVE handshake ({} in all): their "
        "key is not in curve.peer_keys or curve.authorized_keys",
        c.curve_refused - logged_.curve_refused, c.curve_refused);
  }
  if (c.malformed > logged_.malformed) {
    Log()->warn(
        "{} malformed messages ignored ({} in all): is a non-switchboard "
        "publisher, or another protocol version, in `connect`?",
        c.malformed - logged_.malformed, c.malformed);
  }
  logged_ = c;
}

SB_REGISTER_TRANSPORT("zeromq", ZeroMqTransport::Create,
                      ZeroMqTransport::ParseSettings);

}  // namespace switchboard::bridge::zeromq
