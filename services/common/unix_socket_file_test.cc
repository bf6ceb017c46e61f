#include "services/common/unix_socket_file.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/common/listen_settings.h"
#include "tests/testing/unix_socket_testing.h"

namespace switchboard {
namespace {

using ::switchboard::testing::OwnGroupName;
using ::switchboard::testing::ShortTempDir;
using ::testing::HasSubstr;

// A bound unix socket at `path`; listening if `listen`. Returns the fd.
int BindSocket(const std::string& path, bool listen) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0)
      << std::strerror(errno);
  if (listen) EXPECT_EQ(::listen(fd, 4), 0);
  return fd;
}

TEST(SocketFileTest, NothingThereIsFine) {
  ShortTempDir dir;
  auto removed = RemoveStaleSocket(dir.path() + "/absent.sock");
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_FALSE(*removed);
}

TEST(SocketFileTest, RemovesAStaleSocket) {
  ShortTempDir dir;
  std::string path = dir.path() + "/stale.sock";
  close(BindSocket(path, /*listen=*/true));  // the "process" died
  auto removed = RemoveStaleSocket(path);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_TRUE(*removed);
  EXPECT_NE(access(path.c_str(), F_OK), 0);
}

TEST(SocketFileTest, RefusesALiveSocket) {
  ShortTempDir dir;
  std::string path = dir.path() + "/live.sock";
  int fd = BindSocket(path, /*listen=*/true);
  auto removed = RemoveStaleSocket(path);
  EXPECT_EQ(removed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(removed.status().message()),
              HasSubstr("a running server already listens on unix socket '" +
                        path + "'"));
  EXPECT_EQ(access(path.c_str(), F_OK), 0);
  close(fd);
}

TEST(SocketFileTest, NeverRemovesAnotherKindOfFile) {
  ShortTempDir dir;
  std::string path = dir.path() + "/data.txt";
  std::ofstream(path) << "precious\n";
  auto removed = RemoveStaleSocket(path);
  EXPECT_EQ(removed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(removed.status().message()),
              HasSubstr("unix socket path '" + path +
                        "' exists and is a regular file, not a socket; "
                        "refusing to replace it"));
  EXPECT_EQ(access(path.c_str(), F_OK), 0);

  std::string link = dir.path() + "/link.sock";
  ASSERT_EQ(symlink(path.c_str(), link.c_str()), 0);
  EXPECT_THAT(std::string(RemoveStaleSocket(link).status().message()),
              HasSubstr("is a symbolic link"));
}

TEST(SocketFileTest, AppliesModeAndGroupAndRemovesOnlyItsOwnSocket) {
  ShortTempDir dir;
  UnixSocketSettings settings;
  settings.path = dir.path() + "/sb.sock";
  settings.mode = 0620;
  settings.group = OwnGroupName();
  int fd = BindSocket(settings.path, /*listen=*/true);
  ASSERT_TRUE(ApplySocketPermissions(settings).ok());
  struct stat st;
  ASSERT_EQ(stat(settings.path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0620u);
  EXPECT_EQ(st.st_gid, getegid());

  SocketFileId id = IdentifySocket(settings.path);
  EXPECT_NE(id.ino, 0u);
  close(fd);
  // Another server took the path over: its socket stays.
  unlink(settings.path.c_str());
  int other = BindSocket(settings.path, /*listen=*/true);
  SocketFileId other_id = IdentifySocket(settings.path);
  if (other_id.ino != id.ino) {
    RemoveSocketIfSame(settings.path, id);
    EXPECT_EQ(access(settings.path.c_str(), F_OK), 0);
  }
  RemoveSocketIfSame(settings.path, other_id);
  EXPECT_NE(access(settings.path.c_str(), F_OK), 0);
  close(other);

  // Missing file: a clear error naming the path.
  absl::Status gone = ApplySocketPermissions(settings);
  EXPECT_THAT(std::string(gone.message()),
              HasSubstr("unix socket '" + settings.path +
                        "' is not there after binding"));
}

}  // namespace
}  // namespace switchboard
