#include "tests/testing/unix_socket_testing.h"

#include <grp.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <system_error>

namespace switchboard::testing {

ShortTempDir::ShortTempDir() {
  char name[] = "/tmp/sb-test-XXXXXX";
  if (mkdtemp(name) != nullptr) path_ = name;
}

ShortTempDir::~ShortTempDir() {
  if (path_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string OwnGroupName() {
  struct group* g = getgrgid(getegid());
  return g == nullptr ? std::to_string(getegid()) : g->gr_name;
}

}  // namespace switchboard::testing
