#ifndef SWITCHBOARD_SERVICES_COMMON_UNIX_PEERS_H_
#define SWITCHBOARD_SERVICES_COMMON_UNIX_PEERS_H_

// Who is at the other end of a unix socket connection. gRPC does not tell
// (its peer name for a unix socket is the same for every client), so a
// server whose socket has `peer_credentials` accepts the connections
// itself (UnixPeerAcceptor), reads SO_PEERCRED, and hands each connection
// to gRPC by its file descriptor, whose gRPC peer name is then "fd:<n>":
// UnixPeers maps that name back to the credentials.

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <memory>
#include <optional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "services/common/listen_settings.h"

namespace switchboard {

struct UnixPeer {
  uid_t uid = 0;
  gid_t gid = 0;  // the peer's primary group
  pid_t pid = 0;
};

// The credentials of connections accepted by UnixPeerAcceptors, by file
// descriptor. Process-wide (descriptors are); thread-safe. A descriptor
// number reused by a later connection is recorded anew before gRPC sees
// it; descriptors of other kinds never carry an "fd:" peer name.
class UnixPeers {
 public:
  static UnixPeers& Global();

  void Record(int fd, UnixPeer peer);
  // The peer of a call whose ServerContext::peer() is `grpc_peer`; none for
  // other peers (TCP, unix sockets gRPC accepted itself).
  std::optional<UnixPeer> Find(absl::string_view grpc_peer) const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<int, UnixPeer> by_fd_ ABSL_GUARDED_BY(mu_);
};

// Accepts the connections of a unix socket on an owned thread, records
// each one's SO_PEERCRED and hands it to `server` (plaintext). The socket
// file is bound by Start with the process's umask (the caller sets mode and
// group afterwards, as for gRPC's own listeners); it is not removed here.
class UnixPeerAcceptor {
 public:
  static absl::StatusOr<std::unique_ptr<UnixPeerAcceptor>> Start(
      const std::string& path, grpc::Server* server);
  // Stops accepting; connections already handed over stay with `server`.
  ~UnixPeerAcceptor();
  UnixPeerAcceptor(const UnixPeerAcceptor&) = delete;
  UnixPeerAcceptor& operator=(const UnixPeerAcceptor&) = delete;

 private:
  UnixPeerAcceptor(int listen_fd, int wake_read, int wake_write,
                   grpc::Server* server);
  void Loop();

  const int listen_fd_;
  const int wake_read_;
  const int wake_write_;
  grpc::Server* const server_;
  std::thread thread_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_COMMON_UNIX_PEERS_H_
