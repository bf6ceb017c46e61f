#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_ZEROMQ_ZEROMQ_SETTINGS_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_ZEROMQ_ZEROMQ_SETTINGS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/config.h"

namespace switchboard::bridge::zeromq {

// The "zeromq" driver's settings (`transport.zeromq`; see README.md and
// zeromq_transport.h).
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

// Reads `transport.zeromq`; see README.md. Errors (InvalidArgument) name
// the field and never quote the secret key. Reads curve.secret_key_file.
absl::StatusOr<Settings> ParseSettings(const ConfigNode& config);

// A Z85 CURVE key's 32 bytes; empty when `z85` is not one (40 characters).
std::string DecodeCurveKey(const std::string& z85);
// The Z85 text (40 characters) of a CURVE key; `key` holds 32 bytes.
std::string EncodeCurveKey(const std::string& key);

}  // namespace switchboard::bridge::zeromq

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_ZEROMQ_ZEROMQ_SETTINGS_H_
