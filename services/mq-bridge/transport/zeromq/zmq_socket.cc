#include "services/mq-bridge/transport/zeromq/zmq_socket.h"

#include <errno.h>

#include <chrono>
#include <utility>
#include <zmq.hpp>

#include "absl/strings/str_cat.h"

namespace switchboard::bridge::zeromq {
namespace {

// Below this size a copy costs less than the bookkeeping of a zero-copy
// frame (an allocation and a callback from ZeroMQ's I/O thread).
constexpr size_t kZeroCopyMinBytes = 1024;

absl::StatusCode ErrnoToStatusCode(int err) {
  switch (err) {
    case EINVAL:
    case EPROTONOSUPPORT:
    case ENOCOMPATPROTO:
    case EADDRNOTAVAIL:
    case ENODEV:
      // A malformed endpoint or one this host does not have: configuration.
      return absl::StatusCode::kInvalidArgument;
    case EADDRINUSE:
    case EAGAIN:
    case EHOSTUNREACH:
      return absl::StatusCode::kUnavailable;
    case ENOMEM:
    case EMFILE:
      return absl::StatusCode::kResourceExhausted;
    case ETERM:
      return absl::StatusCode::kCancelled;
    default:
      return absl::StatusCode::kInternal;
  }
}

// The one place where ZeroMQ errors become statuses.
absl::Status ToStatus(const zmq::error_t& error, absl::string_view what) {
  return absl::Status(ErrnoToStatusCode(error.num()),
                      absl::StrCat(what, ": ", error.what()));
}

// Runs `f`, turning what cppzmq throws into a status.
template <typename F>
absl::Status Try(absl::string_view what, F&& f) {
  try {
    f();
    return absl::OkStatus();
  } catch (const zmq::error_t& error) {
    return ToStatus(error, what);
  }
}

void ReleaseOwner(void* /*data*/, void* hint) {
  delete static_cast<std::shared_ptr<const std::string>*>(hint);
}

// Never throws away `owner` without releasing it, whatever happens.
zmq::message_t MakeFrame(const OutFrame& frame) {
  if (frame.owner == nullptr || frame.bytes.size() < kZeroCopyMinBytes) {
    return zmq::message_t(frame.bytes.data(), frame.bytes.size());
  }
  auto* hint = new std::shared_ptr<const std::string>(frame.owner);
  try {
    return zmq::message_t(const_cast<char*>(frame.bytes.data()),
                          frame.bytes.size(), &ReleaseOwner, hint);
  } catch (...) {
    delete hint;  // zmq_msg_init_data does not call ReleaseOwner on failure
    throw;
  }
}

int ToMillis(absl::Duration d) {
  return static_cast<int>(absl::ToInt64Milliseconds(d));
}

}  // namespace

ZmqContext::ZmqContext() = default;
ZmqContext::~ZmqContext() = default;

absl::StatusOr<std::unique_ptr<ZmqContext>> ZmqContext::Create() {
  auto context = std::unique_ptr<ZmqContext>(new ZmqContext());
  absl::Status status = Try("zeromq context", [&] {
    // One ZeroMQ I/O thread is plenty for a bridge's traffic.
    context->context_ = std::make_unique<zmq::context_t>(1);
  });
  if (!status.ok()) return status;
  return context;
}

ZmqSocket::ZmqSocket(std::unique_ptr<zmq::socket_t> socket, std::string name)
    : socket_(std::move(socket)), name_(std::move(name)) {}

ZmqSocket::~ZmqSocket() = default;

absl::StatusOr<std::unique_ptr<ZmqSocket>> ZmqSocket::Open(ZmqContext& context,
                                                           Type type,
                                                           std::string name) {
  std::unique_ptr<zmq::socket_t> socket;
  absl::Status status = Try(name, [&] {
    socket = std::make_unique<zmq::socket_t>(
        *context.context_,
        type == Type::kXPub  ? zmq::socket_type::xpub
        : type == Type::kSub ? zmq::socket_type::sub
                             : zmq::socket_type::rep);
  });
  if (!status.ok()) return status;
  return std::unique_ptr<ZmqSocket>(
      new ZmqSocket(std::move(socket), std::move(name)));
}

absl::Status ZmqSocket::SetLinger(absl::Duration linger) {
  return Try(absl::StrCat(name_, ": set linger"),
             [&] { socket_->set(zmq::sockopt::linger, ToMillis(linger)); });
}

absl::Status ZmqSocket::SetHighWaterMarks(int send, int receive) {
  return Try(absl::StrCat(name_, ": set high-water marks"), [&] {
    socket_->set(zmq::sockopt::sndhwm, send);
    socket_->set(zmq::sockopt::rcvhwm, receive);
  });
}

absl::Status ZmqSocket::SetHeartbeat(absl::Duration interval) {
  return Try(absl::StrCat(name_, ": set heartbeat"), [&] {
    socket_->set(zmq::sockopt::heartbeat_ivl, ToMillis(interval));
    socket_->set(zmq::sockopt::heartbeat_timeout, 3 * ToMillis(interval));
  });
}

absl::Status ZmqSocket::EnableIpv6() {
  return Try(absl::StrCat(name_, ": enable IPv6"),
             [&] { socket_->set(zmq::sockopt::ipv6, true); });
}

absl::Status ZmqSocket::ReportEverySubscription() {
  return Try(absl::StrCat(name_, ": set xpub_verbose"),
             [&] { socket_->set(zmq::sockopt::xpub_verbose, true); });
}

absl::Status ZmqSocket::SubscribeAll() {
  return Try(absl::StrCat(name_, ": subscribe"),
             [&] { socket_->set(zmq::sockopt::subscribe, ""); });
}

absl::Status ZmqSocket::SetCurveServer(const std::string& secret_key) {
  return Try(absl::StrCat(name_, ": set CURVE server"), [&] {
    socket_->set(zmq::sockopt::curve_server, true);
    socket_->set(zmq::sockopt::curve_secretkey, secret_key);
    // A domain makes ZeroMQ ask the ZAP handler about every client.
    socket_->set(zmq::sockopt::zap_domain, "switchboard");
  });
}

absl::Status ZmqSocket::SetCurveClient(const std::string& server_key,
                                       const std::string& public_key,
                                       const std::string& secret_key) {
  return Try(absl::StrCat(name_, ": set CURVE client"), [&] {
    socket_->set(zmq::sockopt::curve_serverkey, server_key);
    socket_->set(zmq::sockopt::curve_publickey, public_key);
    socket_->set(zmq::sockopt::curve_secretkey, secret_key);
  });
}

absl::Status ZmqSocket::Bind(const std::string& endpoint) {
  return Try(absl::StrCat(name_, ": cannot bind ", endpoint),
             [&] { socket_->bind(endpoint); });
}

absl::Status ZmqSocket::Connect(const std::string& endpoint) {
  return Try(absl::StrCat(name_, ": cannot connect to ", endpoint),
             [&] { socket_->connect(endpoint); });
}

absl::StatusOr<std::string> ZmqSocket::LastEndpoint() {
  std::string endpoint;
  absl::Status status =
      Try(absl::StrCat(name_, ": read the bound endpoint"),
          [&] { endpoint = socket_->get(zmq::sockopt::last_endpoint); });
  if (!status.ok()) return status;
  return endpoint;
}

absl::Status ZmqSocket::Send(absl::Span<const OutFrame> frames) {
  bool sent = true;
  absl::Status status = Try(absl::StrCat(name_, ": send"), [&] {
    for (size_t i = 0; i < frames.size() && sent; ++i) {
      zmq::message_t message = MakeFrame(frames[i]);
      zmq::send_flags flags = zmq::send_flags::dontwait;
      if (i + 1 < frames.size()) flags = flags | zmq::send_flags::sndmore;
      // ZeroMQ takes a multipart message whole or not at all: only its
      // first frame can be refused for want of room.
      sent = socket_->send(message, flags).has_value();
    }
  });
  if (!status.ok()) return status;
  if (!sent) {
    return absl::ResourceExhaustedError(
        absl::StrCat(name_, ": send: the socket's queue is full"));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> ZmqSocket::TryReceive(std::vector<std::string>* frames) {
  frames->clear();
  bool got = false;
  absl::Status status = Try(absl::StrCat(name_, ": receive"), [&] {
    zmq::message_t message;
    if (!socket_->recv(message, zmq::recv_flags::dontwait)) return;
    got = true;
    frames->push_back(message.to_string());
    // The other frames of a message arrive with its first.
    while (message.more()) {
      message.rebuild();
      if (!socket_->recv(message, zmq::recv_flags::none)) break;
      frames->push_back(message.to_string());
    }
  });
  if (!status.ok()) return status;
  return got;
}

absl::Status Poll(absl::Span<ZmqSocket* const> sockets, int fd,
                  absl::Duration timeout, std::vector<bool>* readable,
                  bool* fd_readable) {
  std::vector<zmq::pollitem_t> items;
  items.reserve(sockets.size() + 1);
  for (ZmqSocket* socket : sockets) {
    items.push_back({socket->socket_->handle(), 0, ZMQ_POLLIN, 0});
  }
  if (fd >= 0) items.push_back({nullptr, fd, ZMQ_POLLIN, 0});
  readable->assign(sockets.size(), false);
  *fd_readable = false;
  try {
    zmq::poll(items.data(), items.size(),
              std::chrono::milliseconds(ToMillis(timeout)));
  } catch (const zmq::error_t& error) {
    // A signal woke the thread up: nothing is ready, the caller polls again.
    if (error.num() == EINTR) return absl::OkStatus();
    return ToStatus(error, "zeromq poll");
  }
  for (size_t i = 0; i < sockets.size(); ++i) {
    (*readable)[i] = (items[i].revents & ZMQ_POLLIN) != 0;
  }
  *fd_readable = fd >= 0 && (items.back().revents & ZMQ_POLLIN) != 0;
  return absl::OkStatus();
}

}  // namespace switchboard::bridge::zeromq
