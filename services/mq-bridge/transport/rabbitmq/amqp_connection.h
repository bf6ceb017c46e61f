#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_AMQP_CONNECTION_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_AMQP_CONNECTION_H_

#include <amqp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/mq-bridge/transport/rabbitmq/connection_settings.h"

namespace switchboard::bridge::rabbitmq {

// One AMQP connection (rabbitmq-c), owned by one thread: rabbitmq-c is not
// thread-safe per connection. Every rabbitmq-c error becomes an
// absl::Status here, and only here.
class AmqpConnection {
 public:
  // Connects and logs in to the first node that accepts, trying the nodes
  // in their order starting with nodes[first_node] (round robin). When no
  // node accepts: the first refusal (PermissionDenied when a node refuses
  // the credentials or the vhost, InvalidArgument for unusable TLS files),
  // naming its node; else Unavailable, naming every node.
  static absl::StatusOr<std::unique_ptr<AmqpConnection>> Open(
      const ConnectionSettings& settings, absl::string_view purpose,
      size_t first_node = 0);

  ~AmqpConnection();
  AmqpConnection(const AmqpConnection&) = delete;
  AmqpConnection& operator=(const AmqpConnection&) = delete;

  amqp_connection_state_t get() const { return conn_; }
  // Which of the settings' nodes this connection is to, and its
  // Describe() (for logs and errors: name the node a failure concerns).
  size_t node() const { return node_; }
  const std::string& peer() const { return peer_; }

  absl::Status OpenChannel(amqp_channel_t channel);

  // The outcome of the last synchronous method on `channel`. A channel or
  // connection closed by the broker is acknowledged (close-ok) so the
  // connection stays usable when only the channel died.
  absl::Status CheckReply(amqp_channel_t channel, absl::string_view what);
  absl::Status Check(const amqp_rpc_reply_t& reply, amqp_channel_t channel,
                     absl::string_view what);
  // A status code returned by a rabbitmq-c function (AMQP_STATUS_*).
  absl::Status CheckCode(int code, absl::string_view what);

  // Handles a method frame that arrived out of band (channel.close,
  // connection.close): acknowledges it and returns the error it carries.
  absl::Status HandleClose(const amqp_frame_t& frame, absl::string_view what);

  // Whether rabbitmq-c already holds unread input.
  bool HasBufferedInput() const;
  // Waits until the socket has input (true), `wake_fd` (if not -1) is
  // readable (false) or the timeout passes (false); InfiniteDuration waits
  // without limit.
  absl::StatusOr<bool> WaitForInput(int wake_fd, absl::Duration timeout);

  // While a Cork lives, what is written to the connection is held by the
  // kernel and sent in full-sized segments when it ends (TCP_CORK): a burst
  // of small messages then costs the broker a few large reads instead of
  // one per frame. Only for a burst that ends at once: the kernel holds
  // corked data up to 200ms.
  class Cork {
   public:
    explicit Cork(const AmqpConnection& connection);
    ~Cork();
    Cork(const Cork&) = delete;
    Cork& operator=(const Cork&) = delete;

   private:
    const int fd_;
  };

  // After an error that killed the connection: skip the polite close.
  void MarkBroken() { broken_ = true; }
  bool broken() const { return broken_; }

 private:
  AmqpConnection(amqp_connection_state_t conn, size_t node, std::string peer)
      : conn_(conn), node_(node), peer_(std::move(peer)) {}
  // Connects to nodes[node] only.
  static absl::StatusOr<std::unique_ptr<AmqpConnection>> OpenNode(
      const ConnectionSettings& settings, absl::string_view purpose,
      size_t node);

  amqp_connection_state_t conn_;
  const size_t node_;
  const std::string peer_;
  bool broken_ = false;
};

// Maps a broker reply code (AMQP 0-9-1 constants) to a status code.
absl::StatusCode ReplyCodeToStatusCode(int reply_code);

}  // namespace switchboard::bridge::rabbitmq

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_AMQP_CONNECTION_H_
