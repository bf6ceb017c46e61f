#include "services/common/unix_socket_file.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace switchboard {
namespace {

std::string ErrnoText(int error) { return std::strerror(error); }

const char* FileKind(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISFIFO(mode)) return "a named pipe";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a socket";
}

}  // namespace

absl::StatusOr<bool> RemoveStaleSocket(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    int e = errno;
    if (e == ENOENT) return false;
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot inspect unix socket path '", path, "': ", ErrnoText(e)));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "unix socket path '", path, "' exists and is ", FileKind(st.st_mode),
        ", not a socket; refusing to replace it: remove it or choose another "
        "unix_socket.path"));
  }
  // A socket: left by a process that died, or still served?
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int e = errno;
    return absl::InternalError(absl::StrCat("socket(AF_UNIX): ", ErrnoText(e)));
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  int r = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  int e = errno;
  close(fd);
  if (r == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "a running server already listens on unix socket '", path,
        "' (another instance?); stop it or choose another unix_socket.path"));
  }
  if (e != ECONNREFUSED) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot tell whether unix socket '", path,
                     "' is still in use (connect: ", ErrnoText(e),
                     "); remove it if its server is gone"));
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    int ue = errno;
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot remove stale unix socket '", path, "': ", ErrnoText(ue)));
  }
  return true;
}

absl::Status ApplySocketPermissions(const UnixSocketSettings& settings) {
  const std::string& path = settings.path;
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    int e = errno;
    return absl::InternalError(absl::StrCat(
        "unix socket '", path, "' is not there after binding: ", ErrnoText(e)));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::InternalError(
        absl::StrCat("unix socket '", path,
                     "' was replaced by another kind of file after binding"));
  }
  if (!settings.group.empty()) {
    auto gid = ResolveGroup(settings.group);
    if (!gid.ok()) return gid.status();
    if (lchown(path.c_str(), static_cast<uid_t>(-1), *gid) != 0) {
      int e = errno;
      return absl::PermissionDeniedError(absl::StrCat(
          "cannot give unix socket '", path, "' to group '", settings.group,
          "' (gid ", *gid, "): ", ErrnoText(e),
          e == EPERM ? " (the service's user must be root or a member of "
                       "that group)"
                     : ""));
    }
  }
  if (chmod(path.c_str(), settings.mode) != 0) {
    int e = errno;
    return absl::PermissionDeniedError(
        absl::StrCat("cannot set mode ", FormatFileMode(settings.mode),
                     " on unix socket '", path, "': ", ErrnoText(e)));
  }
  return absl::OkStatus();
}

SocketFileId IdentifySocket(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return {};
  return {st.st_dev, st.st_ino};
}

void RemoveSocketIfSame(const std::string& path, SocketFileId id) {
  if (id.ino == 0) return;
  SocketFileId now = IdentifySocket(path);
  if (now.dev == id.dev && now.ino == id.ino) unlink(path.c_str());
}

}  // namespace switchboard
