#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_ZEROMQ_ZEROMQ_ZAP_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_ZEROMQ_ZEROMQ_ZAP_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "services/mq-bridge/transport/zeromq/zmq_socket.h"

namespace switchboard::bridge::zeromq {

// The ZAP handler (ZeroMQ's authentication protocol, 1.0) of a context
// whose publisher is a CURVE server: it lets in the subscribers whose
// public key is authorized and refuses every other one at the handshake.
//
// Like its socket, used by one thread at a time (the I/O thread, which
// must answer while a CURVE subscriber connects).
class ZapHandler {
 public:
  // Binds the handler in `context`. Do so before a CURVE server there
  // takes clients.
  static absl::StatusOr<std::unique_ptr<ZapHandler>> Open(ZmqContext& context);

  // Lets in the client with this Z85 public key (as validated by
  // ParseSettings).
  void Authorize(const std::string& z85_key);
  // Answers the ZAP requests that wait; returns how many it refused.
  uint64_t AnswerPending();
  // For Poll().
  ZmqSocket* socket() const { return socket_.get(); }

 private:
  explicit ZapHandler(std::unique_ptr<ZmqSocket> socket)
      : socket_(std::move(socket)) {}

  std::unique_ptr<ZmqSocket> socket_;
  // The client keys (32 bytes, binary) it lets in.
  absl::flat_hash_set<std::string> authorized_keys_;
};

}  // namespace switchboard::bridge::zeromq

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_ZEROMQ_ZEROMQ_ZAP_H_
