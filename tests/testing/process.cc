#include "tests/testing/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace switchboard::testing {

absl::StatusOr<std::unique_ptr<Process>> Process::Start(
    const std::string& binary, const std::vector<std::string>& args,
    const Options& options) {
  int stdin_pipe[2] = {-1, -1};
  if (options.pipe_stdin && pipe(stdin_pipe) != 0) {
    return absl::InternalError("pipe failed");
  }
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(binary.c_str()));
  for (const std::string& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    // Services block these signals in main; start from a clean mask.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (options.pipe_stdin) {
      dup2(stdin_pipe[0], 0);
      close(stdin_pipe[0]);
      close(stdin_pipe[1]);
    }
    auto redirect = [](const std::string& path, int fd) {
      if (path.empty()) return;
      int out = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (out >= 0) {
        dup2(out, fd);
        close(out);
      }
    };
    redirect(options.stdout_path, 1);
    redirect(options.stderr_path, 2);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  int stdin_fd = -1;
  if (options.pipe_stdin) {
    close(stdin_pipe[0]);
    stdin_fd = stdin_pipe[1];
  }
  return std::unique_ptr<Process>(new Process(pid, stdin_fd));
}

Process::~Process() {
  CloseStdin();
  if (running()) {
    Signal(SIGKILL);
    Wait(absl::Seconds(10));
  }
}

void Process::Signal(int signal) {
  if (!exit_code_.has_value()) kill(pid_, signal);
}

void Process::WriteStdin(const std::string& data) {
  size_t done = 0;
  while (stdin_fd_ >= 0 && done < data.size()) {
    ssize_t n = write(stdin_fd_, data.data() + done, data.size() - done);
    if (n <= 0) break;
    done += n;
  }
}

void Process::CloseStdin() {
  if (stdin_fd_ >= 0) close(stdin_fd_);
  stdin_fd_ = -1;
}

bool Process::running() {
  if (exit_code_.has_value()) return false;
  return !Wait(absl::ZeroDuration()).has_value();
}

std::optional<int> Process::Wait(absl::Duration timeout) {
  if (exit_code_.has_value()) return exit_code_;
  absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ =
          WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return exit_code_;
    }
    if (absl::Now() >= deadline) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

std::string Runfile(const std::string& path) {
  const char* dir = std::getenv("TEST_SRCDIR");
  if (dir == nullptr) return path;  // run from the workspace root
  return absl::StrCat(dir, "/switchboard/", path);
}

std::string NewTempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  static int counter = 0;
  std::string dir = absl::StrCat(base ? base : "/tmp", "/", name, "-", getpid(),
                                 "-", ++counter);
  mkdir(dir.c_str(), 0755);
  return dir;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream(path) << content;
}

absl::StatusOr<int> WaitForPortFile(const std::string& path, Process& process,
                                    const std::string& log_path,
                                    absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    int port;
    std::string text(absl::StripAsciiWhitespace(ReadFile(path)));
    if (!text.empty() && absl::SimpleAtoi(text, &port)) return port;
    if (!process.running()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "process exited before listening; its log:\n", ReadFile(log_path)));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("no port in ", path, "; log:\n", ReadFile(log_path)));
}

int PickFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace switchboard::testing
