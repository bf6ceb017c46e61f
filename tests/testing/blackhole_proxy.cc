#include "tests/testing/blackhole_proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace switchboard::testing {
namespace {

constexpr size_t kBufferBytes = 256 << 10;

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  return addr;
}

void SetNonBlocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

// Every socket is close-on-exec: a service the test starts later must not
// inherit one, or closing it here would end nothing (seen: a killed
// consumer's stream lived on at the bridge until keepalive, 30 s).

// Closes `fd` with an RST rather than a FIN.
void Abort(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  close(fd);
}

}  // namespace

// One proxied connection: bytes read from one side wait in a buffer until
// the other side takes them.
struct BlackholeProxy::Link {
  int client = -1;
  int upstream = -1;
  std::string to_upstream;
  std::string to_client;
  ~Link() {
    Abort(client);
    Abort(upstream);
  }
};

absl::StatusOr<std::unique_ptr<BlackholeProxy>> BlackholeProxy::Start(
    int target_port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr = Loopback(0);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd, 128) != 0) {
    int error = errno;
    close(fd);
    return absl::InternalError(
        absl::StrCat("proxy: cannot listen on loopback: ", strerror(error)));
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  SetNonBlocking(fd);
  int wake[2];
  if (pipe2(wake, O_CLOEXEC) != 0) {
    close(fd);
    return absl::InternalError("proxy: pipe failed");
  }
  SetNonBlocking(wake[0]);
  SetNonBlocking(wake[1]);
  auto proxy = std::unique_ptr<BlackholeProxy>(new BlackholeProxy(
      fd, ntohs(addr.sin_port), target_port, wake[0], wake[1]));
  proxy->thread_ = std::thread([p = proxy.get()] { p->Loop(); });
  return proxy;
}

BlackholeProxy::BlackholeProxy(int listen_fd, int port, int target_port,
                               int wake_read, int wake_write)
    : listen_fd_(listen_fd),
      port_(port),
      target_port_(target_port),
      wake_read_(wake_read),
      wake_write_(wake_write) {}

BlackholeProxy::~BlackholeProxy() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  Wake();
  thread_.join();
  links_.clear();
  close(listen_fd_);
  close(wake_read_);
  close(wake_write_);
}

void BlackholeProxy::Wake() {
  char c = 0;
  (void)!write(wake_write_, &c, 1);
}

void BlackholeProxy::Blackhole() {
  {
    absl::MutexLock lock(&mu_);
    blackholed_ = true;
  }
  Wake();
}

void BlackholeProxy::Resume() {
  {
    absl::MutexLock lock(&mu_);
    blackholed_ = false;
  }
  Wake();
}

void BlackholeProxy::Reset() {
  {
    absl::MutexLock lock(&mu_);
    blackholed_ = false;
    reset_requested_ = true;
  }
  Wake();
}

size_t BlackholeProxy::open_connections() {
  absl::MutexLock lock(&mu_);
  return open_;
}

size_t BlackholeProxy::accepted_connections() {
  absl::MutexLock lock(&mu_);
  return accepted_;
}

void BlackholeProxy::AcceptOne() {
  int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (client < 0) return;
  int upstream = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = Loopback(target_port_);
  // Loopback: a blocking connect is answered at once (or refused when the
  // target is down, and the client sees its connection reset).
  if (connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) !=
      0) {
    Abort(client);
    close(upstream);
    return;
  }
  int one = 1;
  setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  setsockopt(upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  SetNonBlocking(client);
  SetNonBlocking(upstream);
  auto link = std::make_unique<Link>();
  link->client = client;
  link->upstream = upstream;
  links_.push_back(std::move(link));
  absl::MutexLock lock(&mu_);
  ++accepted_;
}

bool BlackholeProxy::Pump(Link& link, short client_events,
                          short upstream_events) {
  char buffer[64 << 10];
  // Reads what `from` has into `pending`, writes `pending` to `to`.
  auto move = [&](int from, short from_events, int to, std::string& pending) {
    if (from_events & (POLLERR | POLLNVAL)) return false;
    if ((from_events & (POLLIN | POLLHUP)) && pending.size() < kBufferBytes) {
      ssize_t n = read(from, buffer, sizeof(buffer));
      if (n == 0) return false;
      if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
      if (n > 0) pending.append(buffer, n);
    }
    if (!pending.empty()) {
      ssize_t n = send(to, pending.data(), pending.size(), MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
      if (n > 0) pending.erase(0, n);
    }
    return true;
  };
  return move(link.client, client_events, link.upstream, link.to_upstream) &&
         move(link.upstream, upstream_events, link.client, link.to_client);
}

void BlackholeProxy::Loop() {
  for (;;) {
    bool blackholed;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      if (reset_requested_) {
        links_.clear();  // each Link aborts its sockets
        reset_requested_ = false;
      }
      blackholed = blackholed_;
      open_ = links_.size();
    }
    std::vector<pollfd> fds = {{wake_read_, POLLIN, 0},
                               {listen_fd_, POLLIN, 0}};
    if (!blackholed) {
      for (const auto& link : links_) {
        short to_client = link->to_client.empty() ? 0 : POLLOUT;
        short to_upstream = link->to_upstream.empty() ? 0 : POLLOUT;
        fds.push_back(
            {link->client,
             static_cast<short>(
                 (link->to_upstream.size() < kBufferBytes ? POLLIN : 0) |
                 to_client),
             0});
        fds.push_back(
            {link->upstream,
             static_cast<short>(
                 (link->to_client.size() < kBufferBytes ? POLLIN : 0) |
                 to_upstream),
             0});
      }
    }
    if (poll(fds.data(), fds.size(), 100) < 0 && errno != EINTR) return;
    if (fds[0].revents & POLLIN) {
      char drain[64];
      while (read(wake_read_, drain, sizeof(drain)) > 0) {
      }
    }
    if (fds[1].revents & POLLIN) AcceptOne();
    {
      // Blackhole() may have come while polling: nothing more moves.
      absl::MutexLock lock(&mu_);
      if (blackholed_) continue;
    }
    if (blackholed) continue;
    // Links accepted just now are not in `fds` yet: they are pumped on the
    // next round.
    std::vector<std::unique_ptr<Link>> alive;
    for (size_t i = 0; i < links_.size(); ++i) {
      size_t at = 2 + 2 * i;
      bool ok = true;
      if (at + 1 < fds.size()) {
        ok = Pump(*links_[i], fds[at].revents, fds[at + 1].revents);
      }
      if (ok) alive.push_back(std::move(links_[i]));
    }
    links_ = std::move(alive);
  }
}

}  // namespace switchboard::testing
