#include "services/mq-bridge/transport/rabbitmq/amqp_connection.h"

#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/common/logging.h"

namespace switchboard::bridge::rabbitmq {

absl::StatusCode ReplyCodeToStatusCode(int reply_code) {
  switch (reply_code) {
    case AMQP_ACCESS_REFUSED:  // 403
    case AMQP_NOT_ALLOWED:     // 530, e.g. an unknown vhost
      return absl::StatusCode::kPermissionDenied;
    case AMQP_NOT_FOUND:  // 404
      return absl::StatusCode::kNotFound;
    case AMQP_RESOURCE_LOCKED:      // 405
    case AMQP_PRECONDITION_FAILED:  // 406
      return absl::StatusCode::kFailedPrecondition;
    case AMQP_RESOURCE_ERROR:  // 506
      return absl::StatusCode::kResourceExhausted;
    case AMQP_CONNECTION_FORCED:  // 320
      return absl::StatusCode::kUnavailable;
    case AMQP_FRAME_ERROR:
    case AMQP_SYNTAX_ERROR:
    case AMQP_COMMAND_INVALID:
    case AMQP_CHANNEL_ERROR:
    case AMQP_UNEXPECTED_FRAME:
    case AMQP_NOT_IMPLEMENTED:
      return absl::StatusCode::kInternal;
    default:
      return absl::StatusCode::kUnknown;
  }
}

namespace {

absl::StatusCode LibraryCodeToStatusCode(int code) {
  switch (code) {
    case AMQP_STATUS_TIMEOUT:
      return absl::StatusCode::kDeadlineExceeded;
    case AMQP_STATUS_NO_MEMORY:
      return absl::StatusCode::kResourceExhausted;
    case AMQP_STATUS_BAD_AMQP_DATA:
    case AMQP_STATUS_UNKNOWN_CLASS:
    case AMQP_STATUS_UNKNOWN_METHOD:
    case AMQP_STATUS_UNEXPECTED_STATE:
    case AMQP_STATUS_INVALID_PARAMETER:
    case AMQP_STATUS_TABLE_TOO_BIG:
    case AMQP_STATUS_WRONG_METHOD:
    case AMQP_STATUS_BAD_URL:
      return absl::StatusCode::kInternal;
    default:
      // Socket, TCP, heartbeat and TLS failures: the broker is out of reach.
      return absl::StatusCode::kUnavailable;
  }
}

std::string BytesToString(amqp_bytes_t bytes) {
  return std::string(static_cast<const char*>(bytes.bytes), bytes.len);
}

}  // namespace

absl::StatusOr<std::unique_ptr<AmqpConnection>> AmqpConnection::Open(
    const ConnectionSettings& s, absl::string_view purpose, size_t first_node) {
  if (s.nodes.empty()) {
    return absl::InvalidArgumentError("no broker node to connect to");
  }
  if (s.nodes.size() == 1) return OpenNode(s, purpose, 0);
  std::vector<std::string> unreachable;
  absl::Status refused;
  for (size_t i = 0; i < s.nodes.size(); ++i) {
    const size_t node = (first_node + i) % s.nodes.size();
    auto connection = OpenNode(s, purpose, node);
    if (connection.ok()) return connection;
    // Any failure moves on to the next node: a node that is starting or
    // stopping may close a connection during login, which looks like a
    // refused one.
    if (!absl::IsUnavailable(connection.status())) {
      if (refused.ok()) refused = connection.status();
      continue;
    }
    unreachable.emplace_back(connection.status().message());
  }
  // A refusal (credentials, vhost, TLS files) says more than unreachable
  // nodes: every node of a cluster refuses alike.
  if (!refused.ok()) return refused;
  return absl::UnavailableError(
      absl::StrCat("no node of ", s.DescribeAll(),
                   " is reachable: ", absl::StrJoin(unreachable, "; ")));
}

absl::StatusOr<std::unique_ptr<AmqpConnection>> AmqpConnection::OpenNode(
    const ConnectionSettings& s, absl::string_view purpose, size_t node) {
  amqp_connection_state_t conn = amqp_new_connection();
  if (conn == nullptr)
    return absl::ResourceExhaustedError("amqp_new_connection");
  auto connection = std::unique_ptr<AmqpConnection>(
      new AmqpConnection(conn, node, s.Describe(node)));
  const std::string& peer = connection->peer_;
  const BrokerNode& address = s.nodes[node];
  connection->broken_ = true;  // until logged in: no polite close
  amqp_socket_t* socket = nullptr;
  if (s.tls) {
    socket = amqp_ssl_socket_new(conn);
    if (socket == nullptr) return absl::InternalError("amqp_ssl_socket_new");
    amqp_ssl_socket_set_verify_peer(socket, 1);
    amqp_ssl_socket_set_verify_hostname(socket, s.verify_hostname ? 1 : 0);
    if (!s.ca_cert_file.empty()) {
      int rc = amqp_ssl_socket_set_cacert(socket, s.ca_cert_file.c_str());
      if (rc != AMQP_STATUS_OK) {
        return absl::InvalidArgumentError(
            absl::StrCat("cannot use CA certificate '", s.ca_cert_file,
                         "': ", amqp_error_string2(rc)));
      }
    }
    if (!s.client_cert_file.empty()) {
      int rc = amqp_ssl_socket_set_key(socket, s.client_cert_file.c_str(),
                                       s.client_key_file.c_str());
      if (rc != AMQP_STATUS_OK) {
        return absl::InvalidArgumentError(
            absl::StrCat("cannot use client certificate '", s.client_cert_file,
                         "': ", amqp_error_string2(rc)));
      }
    }
  } else {
    socket = amqp_tcp_socket_new(conn);
    if (socket == nullptr) return absl::InternalError("amqp_tcp_socket_new");
  }
  timeval timeout = absl::ToTimeval(s.connect_timeout);
  int rc = amqp_socket_open_noblock(socket, address.host.c_str(), address.port,
                                    &timeout);
  if (rc != AMQP_STATUS_OK) {
    return absl::UnavailableError(absl::StrCat("cannot connect to ", peer, " (",
                                               purpose,
                                               "): ", amqp_error_string2(rc)));
  }
  amqp_rpc_reply_t reply =
      amqp_login(conn, s.vhost.c_str(), /*channel_max=*/0,
                 /*frame_max=*/131072, s.heartbeat_seconds,
                 AMQP_SASL_METHOD_PLAIN, s.user.c_str(), s.password.c_str());
  if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
    absl::Status status = connection->Check(reply, 0, "login");
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
        reply.library_error == AMQP_STATUS_SSL_ERROR) {
      // With TLS 1.3 the broker checks the client's certificate after the
      // client considers the handshake done, so its refusal shows here.
      return absl::UnavailableError(absl::StrCat(
          "the broker ended the TLS session of ", peer, " during login (",
          status.message(),
          "); if it requires client certificates, set tls.client_cert and "
          "tls.client_key to a pair its CA signed"));
    }
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
      // RabbitMQ closes the socket on bad credentials before answering.
      return absl::PermissionDeniedError(
          absl::StrCat("login to ", peer, " failed (", status.message(),
                       "); check the user, password and vhost"));
    }
    return absl::Status(
        status.code(), absl::StrCat("login to ", peer, ": ", status.message()));
  }
  connection->broken_ = false;
  return connection;
}

AmqpConnection::~AmqpConnection() {
  if (!broken_) amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(conn_);
}

absl::Status AmqpConnection::OpenChannel(amqp_channel_t channel) {
  amqp_channel_open(conn_, channel);
  return CheckReply(channel, "channel.open");
}

absl::Status AmqpConnection::CheckReply(amqp_channel_t channel,
                                        absl::string_view what) {
  return Check(amqp_get_rpc_reply(conn_), channel, what);
}

absl::Status AmqpConnection::CheckCode(int code, absl::string_view what) {
  if (code >= 0) return absl::OkStatus();
  if (LibraryCodeToStatusCode(code) == absl::StatusCode::kUnavailable) {
    broken_ = true;
  }
  return absl::Status(LibraryCodeToStatusCode(code),
                      absl::StrCat(what, ": ", amqp_error_string2(code)));
}

absl::Status AmqpConnection::Check(const amqp_rpc_reply_t& reply,
                                   amqp_channel_t channel,
                                   absl::string_view what) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return absl::OkStatus();
    case AMQP_RESPONSE_NONE:
      broken_ = true;
      return absl::InternalError(absl::StrCat(what, ": no reply"));
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return CheckCode(reply.library_error, what);
    case AMQP_RESPONSE_SERVER_EXCEPTION: {
      amqp_frame_t frame;
      frame.frame_type = AMQP_FRAME_METHOD;
      frame.channel = channel;
      frame.payload.method = reply.reply;
      return HandleClose(frame, what);
    }
  }
  return absl::InternalError(absl::StrCat(what, ": unknown reply type"));
}

absl::Status AmqpConnection::HandleClose(const amqp_frame_t& frame,
                                         absl::string_view what) {
  if (frame.frame_type != AMQP_FRAME_METHOD) {
    return absl::InternalError(absl::StrCat(what, ": unexpected frame"));
  }
  const amqp_method_t& method = frame.payload.method;
  if (method.id == AMQP_CHANNEL_CLOSE_METHOD) {
    auto* close = static_cast<amqp_channel_close_t*>(method.decoded);
    amqp_channel_close_ok_t ok;
    if (amqp_send_method(conn_, frame.channel, AMQP_CHANNEL_CLOSE_OK_METHOD,
                         &ok) != AMQP_STATUS_OK) {
      broken_ = true;
    }
    return absl::Status(
        ReplyCodeToStatusCode(close->reply_code),
        absl::StrCat(what, ": ", BytesToString(close->reply_text)));
  }
  if (method.id == AMQP_CONNECTION_CLOSE_METHOD) {
    auto* close = static_cast<amqp_connection_close_t*>(method.decoded);
    amqp_connection_close_ok_t ok;
    amqp_send_method(conn_, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
    broken_ = true;
    absl::StatusCode code = ReplyCodeToStatusCode(close->reply_code);
    // Whatever the broker's reason, this connection is gone: callers
    // reconnect on Unavailable.
    if (code != absl::StatusCode::kPermissionDenied) {
      code = absl::StatusCode::kUnavailable;
    }
    return absl::Status(code, absl::StrCat(what,
                                           ": connection closed by the "
                                           "broker: ",
                                           BytesToString(close->reply_text)));
  }
  return absl::InternalError(
      absl::StrCat(what, ": unexpected method ", amqp_method_name(method.id)));
}

bool AmqpConnection::HasBufferedInput() const {
  return amqp_frames_enqueued(conn_) || amqp_data_in_buffer(conn_);
}

absl::StatusOr<bool> AmqpConnection::WaitForInput(int wake_fd,
                                                  absl::Duration timeout) {
  if (HasBufferedInput()) return true;
  pollfd fds[2] = {{amqp_get_sockfd(conn_), POLLIN, 0}, {wake_fd, POLLIN, 0}};
  const timespec ts = absl::ToTimespec(std::max(timeout, absl::ZeroDuration()));
  int n = ppoll(fds, wake_fd >= 0 ? 2 : 1,
                timeout == absl::InfiniteDuration() ? nullptr : &ts, nullptr);
  if (n < 0) {
    if (errno == EINTR) return false;
    broken_ = true;
    return absl::UnavailableError(absl::StrCat("poll: ", strerror(errno)));
  }
  if (fds[0].revents & (POLLERR | POLLNVAL)) {
    broken_ = true;
    return absl::UnavailableError("the connection to the broker failed");
  }
  // POLLHUP with data left still reads the data first.
  return (fds[0].revents & (POLLIN | POLLHUP)) != 0;
}

namespace {
void SetCork(int fd, int on) {
  // Best effort: without it the bytes are the same, only in more segments.
  if (fd >= 0) (void)setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on));
}
}  // namespace

AmqpConnection::Cork::Cork(const AmqpConnection& connection)
    : fd_(amqp_get_sockfd(connection.conn_)) {
  SetCork(fd_, 1);
}

AmqpConnection::Cork::~Cork() { SetCork(fd_, 0); }

}  // namespace switchboard::bridge::rabbitmq
