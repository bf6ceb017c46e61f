#ifndef SWITCHBOARD_SERVICES_COMMON_UNIX_SOCKET_FILE_H_
#define SWITCHBOARD_SERVICES_COMMON_UNIX_SOCKET_FILE_H_

// The file of a unix socket a server listens on (ListenSettings'
// unix_socket): a stale one removed before binding, its group and mode
// applied once bound, and only its own removed at shutdown.

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/common/listen_settings.h"

namespace switchboard {

// Before binding `path`: a socket file left there by a process that died is
// removed (true when there was one). FailedPrecondition when the path is
// some other kind of file (it is never removed) or a live server still
// accepts connections on it.
absl::StatusOr<bool> RemoveStaleSocket(const std::string& path);

// After binding: gives the socket file to `settings.group` (if set), then
// sets `settings.mode`. Errors name the path and the errno text.
absl::Status ApplySocketPermissions(const UnixSocketSettings& settings);

// The identity of the socket file at `path`, to remove only our own at
// shutdown; {0, 0} when there is no socket there.
struct SocketFileId {
  dev_t dev = 0;
  ino_t ino = 0;
};
SocketFileId IdentifySocket(const std::string& path);
// Removes `path` if it is still the socket `id` names.
void RemoveSocketIfSame(const std::string& path, SocketFileId id);

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_COMMON_UNIX_SOCKET_FILE_H_
