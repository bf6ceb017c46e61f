#ifndef SWITCHBOARD_SERVICES_COMMON_EVENT_FD_H_
#define SWITCHBOARD_SERVICES_COMMON_EVENT_FD_H_

#include "absl/status/statusor.h"

namespace switchboard {

// A Linux eventfd owned by one object: a thread that waits in poll() on a
// socket and this fd is woken by Signal() from any other thread.
//
// Thread-safety: Signal() may be called from any thread at any time while
// the object lives; Drain() and fd() by the waiting thread. Signals
// coalesce: several before a Drain() wake the waiter once.
class EventFd {
 public:
  // Non-blocking and close-on-exec. Internal (with errno's text) when the
  // kernel refuses one (out of file descriptors).
  static absl::StatusOr<EventFd> Create();

  EventFd(EventFd&& other) noexcept;
  EventFd& operator=(EventFd&& other) noexcept;
  EventFd(const EventFd&) = delete;
  EventFd& operator=(const EventFd&) = delete;
  ~EventFd();

  // Makes the fd readable until the next Drain().
  void Signal() const;
  // Makes it unreadable again; what was signalled before is consumed.
  void Drain() const;
  // For poll(): readable after a Signal() not yet drained.
  int fd() const { return fd_; }

 private:
  explicit EventFd(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_COMMON_EVENT_FD_H_
