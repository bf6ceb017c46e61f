#include "services/common/event_fd.h"

#include <poll.h>

#include <thread>
#include <utility>

#include "gtest/gtest.h"

namespace switchboard {
namespace {

bool Readable(const EventFd& e) {
  pollfd p{e.fd(), POLLIN, 0};
  return poll(&p, 1, /*timeout=*/0) == 1 && (p.revents & POLLIN) != 0;
}

TEST(EventFdTest, ASignalMakesItReadableUntilDrained) {
  auto e = EventFd::Create();
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_FALSE(Readable(*e));
  e->Signal();
  e->Signal();  // coalesces
  EXPECT_TRUE(Readable(*e));
  e->Drain();
  EXPECT_FALSE(Readable(*e));
  e->Drain();  // nothing to drain: returns at once (non-blocking)
  EXPECT_FALSE(Readable(*e));
}

TEST(EventFdTest, WakesAThreadBlockedInPoll) {
  auto e = EventFd::Create();
  ASSERT_TRUE(e.ok()) << e.status();
  std::thread waiter([&] {
    pollfd p{e->fd(), POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, /*timeout=*/-1), 1);
  });
  e->Signal();
  waiter.join();
}

TEST(EventFdTest, MovingTransfersTheFdAndClosesItOnce) {
  auto e = EventFd::Create();
  ASSERT_TRUE(e.ok()) << e.status();
  const int fd = e->fd();
  EventFd moved = *std::move(e);
  EXPECT_EQ(moved.fd(), fd);
  moved.Signal();
  EXPECT_TRUE(Readable(moved));
  auto other = EventFd::Create();
  ASSERT_TRUE(other.ok());
  moved = *std::move(other);  // closes `fd`
  EXPECT_NE(moved.fd(), fd);
  EXPECT_FALSE(Readable(moved));
}

}  // namespace
}  // namespace switchboard
