#include "tests/testing/blackhole_proxy.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"
#include "tests/testing/cluster.h"

namespace switchboard::testing {
namespace {

// A loopback socket: a listener (port 0) or a client of `port`; reads
// time out after 5 s, so no test hangs.
int Socket() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  return addr;
}

int Listen(int* port) {
  int fd = Socket();
  sockaddr_in addr = Loopback(0);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  listen(fd, 8);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

int Connect(int port) {
  int fd = Socket();
  sockaddr_in addr = Loopback(port);
  connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  return fd;
}

int Accept(int listener) {
  int fd = accept(listener, nullptr, nullptr);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

// What one read returns: the bytes, "<eof>", or "<error>".
std::string ReadSome(int fd) {
  char buffer[256];
  ssize_t n = read(fd, buffer, sizeof(buffer));
  if (n == 0) return "<eof>";
  if (n < 0) return "<error>";
  return std::string(buffer, n);
}

class BlackholeProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    listener_ = Listen(&target_port_);
    auto proxy = BlackholeProxy::Start(target_port_);
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    proxy_ = *std::move(proxy);
    client_ = Connect(proxy_->port());
    server_ = Accept(listener_);
    ASSERT_GE(server_, 0);
  }
  void TearDown() override {
    for (int fd : {client_, server_, listener_}) close(fd);
  }

  int target_port_ = 0;
  int listener_ = -1;
  int client_ = -1;
  int server_ = -1;
  std::unique_ptr<BlackholeProxy> proxy_;
};

TEST_F(BlackholeProxyTest, ForwardsBothWays) {
  ASSERT_EQ(write(client_, "ping", 4), 4);
  EXPECT_EQ(ReadSome(server_), "ping");
  ASSERT_EQ(write(server_, "pong", 4), 4);
  EXPECT_EQ(ReadSome(client_), "pong");
}

TEST_F(BlackholeProxyTest, ABlackholeHoldsBytesUntilResumed) {
  proxy_->Blackhole();
  ASSERT_EQ(write(client_, "held", 4), 4);
  // Nothing arrives while blackholed (a read that times out).
  timeval short_wait{0, 300000};
  setsockopt(server_, SOL_SOCKET, SO_RCVTIMEO, &short_wait, sizeof(short_wait));
  EXPECT_EQ(ReadSome(server_), "<error>");
  EXPECT_EQ(proxy_->open_connections(), 1u);
  proxy_->Resume();
  timeval long_wait{5, 0};
  setsockopt(server_, SOL_SOCKET, SO_RCVTIMEO, &long_wait, sizeof(long_wait));
  EXPECT_EQ(ReadSome(server_), "held");
}

TEST_F(BlackholeProxyTest, ResetEndsBothSides) {
  proxy_->Reset();
  std::string client_sees = ReadSome(client_);
  std::string server_sees = ReadSome(server_);
  EXPECT_TRUE(client_sees == "<eof>" || client_sees == "<error>")
      << client_sees;
  EXPECT_TRUE(server_sees == "<eof>" || server_sees == "<error>")
      << server_sees;
  EXPECT_TRUE(Eventually([&] { return proxy_->open_connections() == 0; }))
      << proxy_->open_connections();
}

// A client that dies (kill -9 closes its socket) ends the upstream side
// too, so the server notices at once rather than by keepalive.
TEST_F(BlackholeProxyTest, AClosedClientEndsTheUpstreamConnection) {
  ASSERT_EQ(write(server_, "unread", 6), 6);  // left unread: close sends RST
  close(client_);
  client_ = -1;
  std::string server_sees = ReadSome(server_);
  EXPECT_TRUE(server_sees == "<eof>" || server_sees == "<error>")
      << server_sees;
}

}  // namespace
}  // namespace switchboard::testing
