#ifndef SWITCHBOARD_SERVICES_COMMON_LISTEN_SETTINGS_H_
#define SWITCHBOARD_SERVICES_COMMON_LISTEN_SETTINGS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/common/config.h"

namespace switchboard {

// A unix domain socket a service listens on, and who may connect to it.
struct UnixSocketSettings {
  // The socket file; "" = none.
  std::string path;
  // Applied to the socket file once it is bound. Connecting needs write
  // permission, so 0660 lets the owner and the group publish.
  uint32_t mode = 0660;
  // Group name, or numeric gid, the socket file is given to; "" keeps the
  // process's group.
  std::string group;
  // The server accepts the socket's connections itself, to learn each
  // peer's uid and gid (SO_PEERCRED) for auth (identities' unix_users and
  // unix_groups). Such connections are plaintext even with `tls`.
  bool peer_credentials = false;

  friend bool operator==(const UnixSocketSettings& a,
                         const UnixSocketSettings& b) {
    return a.path == b.path && a.mode == b.mode && a.group == b.group &&
           a.peer_credentials == b.peer_credentials;
  }
};

// Where a service listens: the `listen` setting, shared by every service.
// Either the single-address form
//   listen: 0.0.0.0:50051          (or 127.0.0.1:0, [::]:50051, unix:/path)
// or the structured form
//   listen:
//     transport: tcp               # tcp or unix
//     bind_address: 0.0.0.0        # tcp only
//     port: 50051                  # tcp only; 0 = any free port
//     unix_socket:                 # transport unix: the only listener;
//       path: ""                   # tcp: an additional one ("" = none)
//       mode: "0660"
//       group: ""
//       peer_credentials: false    # learn each peer's uid/gid (auth)
// `unix:/path` is transport unix with that path, mode 0660 and the
// process's group.
struct ListenSettings {
  enum class Transport { kTcp, kUnix };

  Transport transport = Transport::kTcp;
  std::string bind_address = "0.0.0.0";
  uint32_t port = 0;
  UnixSocketSettings unix_socket;

  static ListenSettings Tcp(std::string bind_address, uint32_t port);

  // Parses the single-address form: "host:port", "[v6]:port",
  // "unix:/path" (also "unix:relative/path", "unix:///path"). Validated.
  static absl::StatusOr<ListenSettings> FromAddress(absl::string_view address);

  // Reads `key` of `config` in either form: absent settings are those of
  // `defaults`, and the result is validated (errors name the field, e.g.
  // "broadcaster.yaml: listen.unix_socket.mode: ..."). A non-empty
  // `override_address` (--listen, single-address form) replaces the primary
  // listener: a TCP address replaces transport, bind address and port and
  // keeps an additional unix socket; a unix: address makes the socket the
  // only listener, keeping its configured mode and group.
  static absl::StatusOr<ListenSettings> Parse(
      const ConfigNode& config, absl::string_view key,
      const ListenSettings& defaults, const std::string& override_address);

  // Checks every field; also that the socket's directory exists and the
  // group is known. Errors name the field ("listen.unix_socket.path: ...").
  absl::Status Validate() const;

  bool has_tcp() const { return transport == Transport::kTcp; }
  bool has_unix_socket() const { return !unix_socket.path.empty(); }
  // "0.0.0.0:50051", "[::]:50051"; empty without TCP.
  std::string tcp_address() const;
  // "unix:/run/switchboard/broadcaster.sock"; empty without a socket.
  std::string unix_address() const;
  // The TCP address when there is one, else the unix address.
  std::string primary_address() const;
  // Every gRPC listening address: the TCP one first.
  std::vector<std::string> addresses() const;
  // For logs: "0.0.0.0:50051 + unix:/run/x.sock (mode 0660, group sb)".
  std::string ToString() const;

  friend bool operator==(const ListenSettings& a, const ListenSettings& b);
  friend bool operator!=(const ListenSettings& a, const ListenSettings& b) {
    return !(a == b);
  }
};

// "0660".
std::string FormatFileMode(uint32_t mode);

// The gid of `group` (a name or a number). NotFound when no such group.
absl::StatusOr<gid_t> ResolveGroup(const std::string& group);

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_COMMON_LISTEN_SETTINGS_H_
