#include "services/common/unix_peers.h"

#include <errno.h>
#include <fcntl.h>
#include <grpcpp/server_posix.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "services/common/logging.h"

namespace switchboard {

UnixPeers& UnixPeers::Global() {
  static UnixPeers* const peers = new UnixPeers();
  return *peers;
}

void UnixPeers::Record(int fd, UnixPeer peer) {
  absl::MutexLock lock(&mu_);
  by_fd_[fd] = peer;
}

std::optional<UnixPeer> UnixPeers::Find(absl::string_view grpc_peer) const {
  int fd = -1;
  if (!absl::ConsumePrefix(&grpc_peer, "fd:") ||
      !absl::SimpleAtoi(grpc_peer, &fd)) {
    return std::nullopt;
  }
  absl::MutexLock lock(&mu_);
  auto it = by_fd_.find(fd);
  if (it == by_fd_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::unique_ptr<UnixPeerAcceptor>> UnixPeerAcceptor::Start(
    const std::string& path, grpc::Server* server) {
  auto error = [&](absl::string_view what) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on unix socket '", path, "': ", what, ": ",
        std::strerror(errno)));
  };
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unix socket path '", path, "' is too long"));
  }
  std::memcpy(address.sun_path, path.data(), path.size());
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return error("socket");
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      listen(fd, SOMAXCONN) != 0) {
    absl::Status status = error("bind/listen");
    close(fd);
    return status;
  }
  int wake[2];
  if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    absl::Status status = error("pipe");
    close(fd);
    return status;
  }
  return std::unique_ptr<UnixPeerAcceptor>(
      new UnixPeerAcceptor(fd, wake[0], wake[1], server));
}

UnixPeerAcceptor::UnixPeerAcceptor(int listen_fd, int wake_read,
                                   int wake_write, grpc::Server* server)
    : listen_fd_(listen_fd),
      wake_read_(wake_read),
      wake_write_(wake_write),
      server_(server),
      thread_([this] { Loop(); }) {}

UnixPeerAcceptor::~UnixPeerAcceptor() {
  const char byte = 0;
  while (write(wake_write_, &byte, 1) < 0 && errno == EINTR) {
  }
  thread_.join();
  close(listen_fd_);
  close(wake_read_);
  close(wake_write_);
}

void UnixPeerAcceptor::Loop() {
  pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_read_, POLLIN, 0}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      Logger("server")->error("unix socket accept loop: poll: {}",
                              std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;  // stopping
    for (;;) {
      const int fd = accept4(listen_fd_, nullptr, nullptr,
                             SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
            errno != ECONNABORTED) {
          Logger("server")->error("unix socket accept: {}",
                                  std::strerror(errno));
        }
        break;
      }
      ucred credentials{};
      socklen_t size = sizeof(credentials);
      if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &size) != 0) {
        Logger("server")->error("unix socket SO_PEERCRED: {}",
                                std::strerror(errno));
        close(fd);
        continue;
      }
      // Recorded before gRPC can run a call of the connection.
      UnixPeers::Global().Record(
          fd, UnixPeer{credentials.uid, credentials.gid, credentials.pid});
      grpc::AddInsecureChannelFromFd(server_, fd);
    }
  }
}

}  // namespace switchboard
