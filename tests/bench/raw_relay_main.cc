// raw_relay: relays every gRPC stream it accepts, byte for byte, to the same
// method at --to (see raw_relay.h). The benchmark's raw relay baseline
// chains three of them:
//
//   raw_relay --to=127.0.0.1:SINK --port_file=/tmp/relay.port
//
// Runs until SIGTERM or SIGINT.
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/time.h"
#include "tests/bench/raw_relay.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0",
          "Where to listen (port 0: any free port).");
ABSL_FLAG(std::string, port_file, "",
          "Once listening, write the bound port to this file (atomically: "
          "written beside it, then renamed).");
ABSL_FLAG(std::string, to, "", "The downstream address to relay to.");

namespace {

bool WritePortFile(const std::string& path, int port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    out.flush();
    if (!out) return false;
  }
  std::error_code error;
  std::filesystem::rename(tmp, path, error);
  return !error;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string to = absl::GetFlag(FLAGS_to);
  if (to.empty()) {
    std::fprintf(stderr, "raw_relay: --to is required\n");
    return 2;
  }
  // Before gRPC starts its threads, so that only sigwait below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const std::string listen = absl::GetFlag(FLAGS_listen);
  auto relay = switchboard::bench::RawRelay::Start(listen, to);
  if (!relay.ok()) {
    std::fprintf(stderr, "raw_relay: %s\n", relay.status().ToString().c_str());
    return 1;
  }
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty() && !WritePortFile(port_file, (*relay)->port())) {
    std::fprintf(stderr, "raw_relay: cannot write %s\n", port_file.c_str());
    return 1;
  }
  std::fprintf(stderr, "raw_relay: listening on port %d, relaying to %s\n",
               (*relay)->port(), to.c_str());

  int signal = 0;
  sigwait(&signals, &signal);
  std::fprintf(stderr, "raw_relay: signal %d, shutting down\n", signal);
  (*relay)->Shutdown(absl::Seconds(1));
  return 0;
}
