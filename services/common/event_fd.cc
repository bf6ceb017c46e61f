#include "services/common/event_fd.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace switchboard {

absl::StatusOr<EventFd> EventFd::Create() {
  const int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  return EventFd(fd);
}

EventFd::EventFd(EventFd&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)) {}

EventFd& EventFd::operator=(EventFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

EventFd::~EventFd() {
  if (fd_ >= 0) close(fd_);
}

void EventFd::Signal() const {
  uint64_t one = 1;
  // EAGAIN only when the counter is already huge: the waiter wakes anyway.
  while (write(fd_, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
}

void EventFd::Drain() const {
  uint64_t value;
  while (read(fd_, &value, sizeof(value)) < 0 && errno == EINTR) {
  }
}

}  // namespace switchboard
