#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_ZEROMQ_ZMQ_SOCKET_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_ZEROMQ_ZMQ_SOCKET_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace zmq {
class context_t;
class socket_t;
}  // namespace zmq

namespace switchboard::bridge::zeromq {

// A small RAII layer over libzmq (through cppzmq). cppzmq reports errors by
// throwing zmq::error_t; every one is caught in zmq_socket.cc and turned
// into an absl::Status there, so no exception leaves this layer.

// One ZeroMQ context (its I/O thread). Destroying it waits until every
// socket of the context is closed and their lingering messages are sent or
// their linger time is up: close the sockets first.
class ZmqContext {
 public:
  static absl::StatusOr<std::unique_ptr<ZmqContext>> Create();
  ~ZmqContext();
  ZmqContext(const ZmqContext&) = delete;
  ZmqContext& operator=(const ZmqContext&) = delete;

 private:
  friend class ZmqSocket;
  ZmqContext();
  std::unique_ptr<zmq::context_t> context_;
};

// One frame to send. `bytes` is copied, unless `owner` holds them: then
// large frames are handed to ZeroMQ without a copy and `owner` is released
// once ZeroMQ has sent them.
struct OutFrame {
  absl::string_view bytes;
  std::shared_ptr<const std::string> owner;
};

// One socket. Like every ZeroMQ socket it is not thread-safe: one thread
// uses it at a time (handing it over needs a memory barrier, such as a
// thread start or join).
class ZmqSocket {
 public:
  // kRep: the ZAP handler's socket (CURVE authentication).
  enum class Type { kXPub, kSub, kRep };

  // `name` ("zeromq publisher", ...) starts every error message.
  static absl::StatusOr<std::unique_ptr<ZmqSocket>> Open(ZmqContext& context,
                                                         Type type,
                                                         std::string name);
  // Closes the socket; its unsent messages linger in the context for the
  // linger time.
  ~ZmqSocket();
  ZmqSocket(const ZmqSocket&) = delete;
  ZmqSocket& operator=(const ZmqSocket&) = delete;

  // How long unsent messages may delay the context's end after close.
  absl::Status SetLinger(absl::Duration linger);
  // Messages queued per peer before ZeroMQ drops (PUB side) or stops
  // reading (SUB side).
  absl::Status SetHighWaterMarks(int send, int receive);
  // ZMTP heartbeats: a peer silent for 3 intervals is disconnected (and
  // reconnected, on the connecting side), so a half-open TCP connection
  // does not stay stuck.
  absl::Status SetHeartbeat(absl::Duration interval);
  // Needed for IPv6 endpoints ("tcp://[::1]:5560").
  absl::Status EnableIpv6();
  // XPUB: report every subscription, not only the first per topic, so the
  // publisher sees every subscriber that joins.
  absl::Status ReportEverySubscription();
  // SUB: receive every message.
  absl::Status SubscribeAll();
  // CURVE server (the publisher): encrypts with `secret_key` (Z85) and
  // asks the context's ZAP handler about each client key.
  absl::Status SetCurveServer(const std::string& secret_key);
  // CURVE client (a subscriber): talks only to the server holding the
  // secret of `server_key`, and proves its own key pair (all Z85).
  absl::Status SetCurveClient(const std::string& server_key,
                              const std::string& public_key,
                              const std::string& secret_key);

  absl::Status Bind(const std::string& endpoint);
  absl::Status Connect(const std::string& endpoint);
  // The endpoint actually bound (ZMQ_LAST_ENDPOINT), e.g. with the port
  // chosen for "tcp://127.0.0.1:*".
  absl::StatusOr<std::string> LastEndpoint();

  // Sends one message of `frames` without blocking. ResourceExhausted when
  // the socket cannot take it now.
  absl::Status Send(absl::Span<const OutFrame> frames);
  // Receives one whole message without blocking; false when none waits.
  absl::StatusOr<bool> TryReceive(std::vector<std::string>* frames);

 private:
  friend absl::Status Poll(absl::Span<ZmqSocket* const>, int, absl::Duration,
                           std::vector<bool>*, bool*);
  ZmqSocket(std::unique_ptr<zmq::socket_t> socket, std::string name);

  std::unique_ptr<zmq::socket_t> socket_;
  const std::string name_;
};

// Waits up to `timeout` until one of `sockets` has a message to read or
// `fd` (a plain file descriptor, e.g. an eventfd; -1 for none) is readable.
// Sets (*readable)[i] for each socket that has a message.
absl::Status Poll(absl::Span<ZmqSocket* const> sockets, int fd,
                  absl::Duration timeout, std::vector<bool>* readable,
                  bool* fd_readable);

}  // namespace switchboard::bridge::zeromq

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_ZEROMQ_ZMQ_SOCKET_H_
