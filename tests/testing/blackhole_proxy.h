#ifndef SWITCHBOARD_TESTS_TESTING_BLACKHOLE_PROXY_H_
#define SWITCHBOARD_TESTS_TESTING_BLACKHOLE_PROXY_H_

#include <memory>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace switchboard::testing {

// A TCP proxy on loopback for fault tests: a service is pointed at port()
// instead of `target_port`, and the test cuts the link in between.
//
// - Blackhole(): connections stay open (and new ones are accepted) but no
//   byte is forwarded either way, as a network that silently drops
//   packets; the peers notice only through their own timeouts.
// - Resume(): forwarding starts again; what was held flows on.
// - Reset(): every connection is closed with a TCP RST (new ones are
//   forwarded), as a middlebox that gave up on them.
//
// One thread polls every socket; all methods are thread-safe.
class BlackholeProxy {
 public:
  static absl::StatusOr<std::unique_ptr<BlackholeProxy>> Start(int target_port);
  ~BlackholeProxy();

  int port() const { return port_; }
  void Blackhole();
  void Resume();
  void Reset();
  // Connections open now, and accepted in all.
  size_t open_connections();
  size_t accepted_connections();

 private:
  struct Link;
  BlackholeProxy(int listen_fd, int port, int target_port, int wake_read,
                 int wake_write);
  void Loop();
  void Wake();
  void AcceptOne();
  // Moves bytes of one link both ways; false when it ended.
  bool Pump(Link& link, short client_events, short upstream_events);

  const int listen_fd_;
  const int port_;
  const int target_port_;
  const int wake_read_;
  const int wake_write_;
  std::vector<std::unique_ptr<Link>> links_;  // only the loop thread's
  absl::Mutex mu_;
  bool blackholed_ ABSL_GUARDED_BY(mu_) = false;
  bool reset_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  size_t open_ ABSL_GUARDED_BY(mu_) = 0;
  size_t accepted_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_BLACKHOLE_PROXY_H_
