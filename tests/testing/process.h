#ifndef SWITCHBOARD_TESTS_TESTING_PROCESS_H_
#define SWITCHBOARD_TESTS_TESTING_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace switchboard::testing {

// A child process for tests: started with fork/exec, its stdout and stderr
// appended to files, killed (SIGKILL) and reaped on destruction.
class Process {
 public:
  struct Options {
    // Empty: inherit the test's.
    std::string stdout_path;
    std::string stderr_path;
    // Give the child a pipe as stdin, fed by WriteStdin.
    bool pipe_stdin = false;
  };

  static absl::StatusOr<std::unique_ptr<Process>> Start(
      const std::string& binary, const std::vector<std::string>& args,
      const Options& options);

  ~Process();

  pid_t pid() const { return pid_; }
  void Signal(int signal);
  void WriteStdin(const std::string& data);
  void CloseStdin();

  // The exit code, or 128+signal when killed by a signal; nullopt if still
  // running after `timeout`.
  std::optional<int> Wait(absl::Duration timeout);
  bool running();

 private:
  Process(pid_t pid, int stdin_fd) : pid_(pid), stdin_fd_(stdin_fd) {}

  pid_t pid_;
  int stdin_fd_;
  std::optional<int> exit_code_;
};

// Path of a file in the test's runfiles, from the workspace root, e.g.
// "services/mq-bridge/mq-bridge".
std::string Runfile(const std::string& path);

// A fresh directory under the test's temporary directory.
std::string NewTempDir(const std::string& name);

// Reads the port a service wrote with --port_file, waiting for it. Fails
// early, with the end of its log, if `process` exits first.
absl::StatusOr<int> WaitForPortFile(const std::string& path, Process& process,
                                    const std::string& log_path,
                                    absl::Duration timeout);

// A loopback TCP port that was free a moment ago.
int PickFreePort();

std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& content);

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_PROCESS_H_
