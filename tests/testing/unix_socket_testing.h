// What tests of unix sockets share: a directory with a path short enough
// for a socket in it, and the name of the group the test runs as. Needs no
// service binaries, so unit tests may use it.
#ifndef SWITCHBOARD_TESTS_TESTING_UNIX_SOCKET_TESTING_H_
#define SWITCHBOARD_TESTS_TESTING_UNIX_SOCKET_TESTING_H_

#include <string>

namespace switchboard::testing {

// A fresh directory under /tmp, removed with everything in it when the
// object goes. A unix socket's path holds at most 107 bytes, and a test's
// TEST_TMPDIR can be longer than that. Not thread-safe; movable: no.
class ShortTempDir {
 public:
  ShortTempDir();
  ~ShortTempDir();
  ShortTempDir(const ShortTempDir&) = delete;
  ShortTempDir& operator=(const ShortTempDir&) = delete;

  // Empty if the directory could not be created (the test then fails on
  // its first use of it).
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The name of this process's effective group, or its number if it has no
// name: what a `unix_socket.group` setting the test can satisfy looks like.
std::string OwnGroupName();

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_UNIX_SOCKET_TESTING_H_
