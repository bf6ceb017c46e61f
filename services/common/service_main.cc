// ServiceMain: the flags, --check_config, signals and the life of one
// service from its config file to its exit code.
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "services/common/admin_service.h"
#include "services/common/common_settings.h"
#include "services/common/log_settings.h"
#include "services/common/logging.h"
#include "services/common/server.h"
#include "services/common/status_macros.h"

ABSL_FLAG(std::string, config, "",
          "Path of the service's YAML or JSON config file. Without it every "
          "setting has its default.");
ABSL_FLAG(std::string, listen, "",
          "Listen address, overriding the config's `listen` (host:port, "
          "port 0 for any free port, or unix:/path). A host:port keeps a "
          "unix socket the config adds; unix:/path becomes the only "
          "listener, with the config's socket mode and group.");
ABSL_FLAG(std::string, port_file, "",
          "Once listening, write the bound port to this file (for scripts "
          "and tests that listen on port 0).");
ABSL_FLAG(std::string, log_level, "info",
          "trace, debug, info, warn, error, critical or off.");
ABSL_FLAG(std::string, metrics_port_file, "",
          "With metrics.listen set, write the port /metrics is served on to "
          "this file once listening (for port 0).");
ABSL_FLAG(bool, check_config, false,
          "Only check the --config file: print every section's error, each "
          "naming its field, or \"ok\", and exit 1 or 0 without starting "
          "(nothing is bound, opened or connected to; files the config names, "
          "such as certificates, are read).");
ABSL_FLAG(bool, mutex_deadlock_detection, false,
          "Check every absl::Mutex acquisition for lock-order cycles (abort "
          "on one). A debugging aid: Debian's Abseil turns it on by default, "
          "and it takes a global lock on every acquisition (gRPC's own "
          "mutexes included); the test harness turns it on.");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(5),
          "On SIGTERM, how long in-flight RPCs may take before they are "
          "cancelled.");

namespace switchboard {

namespace {

bool WritePortFile(const std::string& path, int port) {
  // Write then rename, so a reader never sees a half-written number.
  std::string tmp = absl::StrCat(path, ".tmp");
  {
    std::ofstream out(tmp);
    if (!(out << port << "\n")) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

// --check_config: each section of the config checked on its own, so that
// one run lists the errors of all of them. Exit status 0 or 1.
int CheckConfigAndExit(const ServiceSpec& spec) {
  const std::string path = absl::GetFlag(FLAGS_config);
  const std::string where = path.empty() ? "(no --config: defaults)" : path;
  ConfigNode config;
  if (!path.empty()) {
    auto loaded = ConfigNode::LoadFile(path);
    if (!loaded.ok()) {
      std::fprintf(stderr, "%s\n",
                   std::string(loaded.status().message()).c_str());
      return 1;
    }
    config = *std::move(loaded);
  }
  std::vector<absl::Status> errors;
  // The common sections are read first, as ServiceMain does, so that the
  // service's own check counts them as known keys.
  (void)CommonSettings::Parse(config, spec.default_limits, &errors);
  errors.push_back(spec.check(config, absl::GetFlag(FLAGS_listen)));
  int failed = 0;
  for (const absl::Status& s : errors) {
    if (s.ok()) continue;
    ++failed;
    // Config errors name the file and the field already.
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
  }
  if (failed > 0) return 1;
  std::printf("%s: ok (%s)\n", where.c_str(), spec.name.c_str());
  return 0;
}

// Logs what an operator must know about who can reach the service.
void WarnIfExposed(const RunningServer& server, bool auth_required,
                   bool tls_enabled, spdlog::logger& log) {
  if (server.loopback_only()) return;
  if (!auth_required) {
    log.warn(
        "*** auth: none on a non-loopback address: anyone who can reach "
        "this port may publish, subscribe, send commands and reload. Set "
        "`auth: {{mode: required}}` with identities (README, Security) or "
        "listen on 127.0.0.1 / a unix socket. ***");
  } else if (!tls_enabled) {
    log.warn(
        "auth is required but this service serves plaintext on a "
        "non-loopback address: bearer tokens cross the network in clear. "
        "Set `tls` (README, Security).");
  }
}

// /metrics, with the service's collectors; null when metrics are off.
absl::StatusOr<std::unique_ptr<MetricsServer>> StartMetrics(
    const MetricsSettings& settings, ServiceBase& service,
    spdlog::logger& log) {
  if (!settings.enabled()) return std::unique_ptr<MetricsServer>();
  SB_ASSIGN_OR_RETURN(std::unique_ptr<MetricsServer> metrics,
                      MetricsServer::Start(settings));
  for (const auto& collectable : service.metrics_collectables(settings)) {
    metrics->Register(collectable);
  }
  log.info("metrics on http://{}/metrics (port {})", settings.listen,
           metrics->port());
  return metrics;
}

// Serves until SIGTERM or SIGINT; SIGHUP reloads. Returns the signal.
int ServeUntilStopped(RunningServer& server, const sigset_t& signals,
                      std::shared_ptr<spdlog::logger> log) {
  int received = 0;
  for (;;) {
    sigwait(&signals, &received);
    if (received != SIGHUP) return received;
    // Runs on the reloader's worker, so that SIGTERM is heard at once.
    // Outcomes are logged by the reloader; the running settings stay on
    // error.
    server.reloader().Start([log](absl::StatusOr<uint64_t> generation) {
      if (absl::IsAborted(generation.status())) {
        log->warn("SIGHUP ignored: {}",
                  std::string(generation.status().message()));
      }
    });
  }
}

// The service from its loaded config until a stop signal: its exit code.
int RunService(const ServiceSpec& spec, const ConfigNode& config,
               const sigset_t& signals) {
  auto log = Logger(spec.name);
  // Common to every service; read first, so that the service's own parser
  // counts the sections as known.
  auto common = CommonSettings::Parse(config, spec.default_limits);
  if (!common.ok()) {
    log->critical("invalid config: {}", std::string(common.status().message()));
    return 2;
  }
  (void)common->log.Apply();  // validated by Parse
  ForwardGrpcLogs();
  const bool auth_required = common->auth.required;
  const bool tls_enabled = common->tls.enabled();
  auto service = spec.create(config, absl::GetFlag(FLAGS_listen));
  if (!service.ok()) {
    log->critical("invalid config: {}",
                  std::string(service.status().message()));
    return 2;
  }
  // /metrics first: a port it cannot have stops the service before it takes
  // any traffic, and the collectors know their label cap before the first
  // event. Destroyed (its threads joined) before the service.
  auto started_metrics = StartMetrics(common->metrics, **service, *log);
  if (!started_metrics.ok()) {
    log->critical("cannot start: {}", started_metrics.status().ToString());
    return 1;
  }
  std::unique_ptr<MetricsServer> metrics_server = *std::move(started_metrics);
  auto server = RunningServer::Start(
      service->get(), absl::GetFlag(FLAGS_config), common->limits, common->tls,
      std::make_shared<AuthPolicy>(std::move(common->auth)));
  if (!server.ok()) {
    log->critical("cannot start: {}", server.status().ToString());
    return 1;
  }
  if (metrics_server != nullptr) {
    metrics_server->Register((*server)->grpc_metrics()->registry());
    if (std::string path = absl::GetFlag(FLAGS_metrics_port_file);
        !path.empty() && !WritePortFile(path, metrics_server->port())) {
      log->critical("cannot write --metrics_port_file '{}'", path);
      return 1;
    }
  }
  for (const std::string& listener : (*server)->listeners()) {
    log->info("{} listening on {}", spec.name, listener);
  }
  WarnIfExposed(**server, auth_required, tls_enabled, *log);
  if (std::string path = absl::GetFlag(FLAGS_port_file); !path.empty()) {
    if (!WritePortFile(path, (*server)->port())) {
      log->critical("cannot write --port_file '{}'", path);
      return 1;
    }
  }

  const int received = ServeUntilStopped(**server, signals, log);
  log->info("{} received, shutting down", strsignal(received));
  (*server)->Shutdown(absl::GetFlag(FLAGS_shutdown_grace));
  log->info("{} stopped", spec.name);
  return 0;
}

}  // namespace

int ServiceMain(int argc, char** argv, const ServiceSpec& spec) {
  absl::SetProgramUsageMessage(
      absl::StrCat("switchboard ", spec.name,
                   " service. See README.md for the configuration reference."));
  absl::ParseCommandLine(argc, argv);
  // Before any thread starts. Off, as in an optimized build of Abseil.
  absl::SetMutexDeadlockDetectionMode(
      absl::GetFlag(FLAGS_mutex_deadlock_detection)
          ? absl::OnDeadlockCycle::kAbort
          : absl::OnDeadlockCycle::kIgnore);
  if (absl::GetFlag(FLAGS_check_config)) return CheckConfigAndExit(spec);
  auto log = Logger(spec.name);
  if (absl::Status s =
          LogSettings::SetDefaultLevel(absl::GetFlag(FLAGS_log_level));
      !s.ok()) {
    log->critical("--log_level: {}", std::string(s.message()));
    return 2;
  }

  // Block the shutdown signals before any thread starts, so every thread
  // inherits the mask and sigwait below is their only receiver.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  ConfigNode config;
  if (std::string path = absl::GetFlag(FLAGS_config); !path.empty()) {
    auto loaded = ConfigNode::LoadFile(path);
    if (!loaded.ok()) {
      log->critical("invalid config: {}",
                    std::string(loaded.status().message()));
      return 2;
    }
    config = *std::move(loaded);
  }
  return RunService(spec, config, signals);
}

}  // namespace switchboard
