#include "services/common/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/impl/server_initializer.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.pb.h"
#include "services/common/admin_service.h"
#include "services/common/common_settings.h"
#include "services/common/log_settings.h"
#include "services/common/logging.h"
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

// The server's grpc.health.v1 service as the ServiceBase sees it: gRPC's
// default health service, until the server shuts down.
class GrpcHealthReporter final : public HealthReporter {
 public:
  explicit GrpcHealthReporter(grpc::HealthCheckServiceInterface* health)
      : health_(health) {}

  void SetServing(const std::string& service, bool serving) override {
    absl::MutexLock lock(&mu_);
    if (health_ != nullptr) health_->SetServingStatus(service, serving);
  }

  // Everything NOT_SERVING, and later reports ignored.
  void ShutDown() {
    absl::MutexLock lock(&mu_);
    if (health_ != nullptr) health_->SetServingStatus(false);
    health_ = nullptr;
  }

 private:
  absl::Mutex mu_;
  grpc::HealthCheckServiceInterface* health_ ABSL_GUARDED_BY(mu_);
};

namespace {

// Collects the names of the services a server registers (what reflection
// lists), so that each can be given a health status.
class ServiceNamesPlugin final : public grpc::ServerBuilderPlugin {
 public:
  explicit ServiceNamesPlugin(std::shared_ptr<std::vector<std::string>> names)
      : names_(std::move(names)) {}
  std::string name() override { return "switchboard_service_names"; }
  void InitServer(grpc::ServerInitializer* initializer) override {}
  void Finish(grpc::ServerInitializer* initializer) override {
    *names_ = *initializer->GetServiceList();
  }
  void ChangeArguments(const std::string& name, void* value) override {}
  bool has_sync_methods() const override { return false; }
  bool has_async_methods() const override { return false; }

 private:
  std::shared_ptr<std::vector<std::string>> names_;
};

class CollectServiceNames final : public grpc::ServerBuilderOption {
 public:
  explicit CollectServiceNames(std::shared_ptr<std::vector<std::string>> names)
      : names_(std::move(names)) {}
  void UpdateArguments(grpc::ChannelArguments* args) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>*
                         plugins) override {
    plugins->push_back(std::make_unique<ServiceNamesPlugin>(names_));
  }

 private:
  std::shared_ptr<std::vector<std::string>> names_;
};

}  // namespace

RunningServer::RunningServer(ServiceBase* service,
                             std::unique_ptr<Reloader> reloader,
                             std::unique_ptr<AdminService> admin,
                             std::shared_ptr<GrpcHealthReporter> health,
                             std::unique_ptr<grpc::Server> server, int port,
                             ListenSettings listen, std::string tls_text,
                             SocketFileId socket)
    : service_(service),
      listen_(std::move(listen)),
      tls_text_(std::move(tls_text)),
      health_(std::move(health)),
      socket_(socket),
      reloader_(std::move(reloader)),
      admin_(std::move(admin)),
      server_(std::move(server)),
      port_(port) {}

RunningServer::~RunningServer() { Shutdown(absl::ZeroDuration()); }

namespace {

// A unix socket file left by a server that died is removed (nothing
// accepts on it); one a live server accepts on is an error.
absl::Status RemoveStaleSocketOf(const ListenSettings& listen) {
  if (!listen.has_unix_socket()) return absl::OkStatus();
  SB_ASSIGN_OR_RETURN(bool removed, RemoveStaleSocket(listen.unix_socket.path));
  if (removed) {
    Logger("server")->warn(
        "removed stale unix socket {} (no server accepted on it)",
        listen.unix_socket.path);
  }
  return absl::OkStatus();
}

// The per-RPC metrics, from a server interceptor.
void InstallInterceptors(GrpcServerMetrics& metrics,
                         grpc::ServerBuilder& builder) {
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(metrics.NewInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
}

void StopAtOnce(grpc::Server& server) {
  server.Shutdown(std::chrono::system_clock::now());
  server.Wait();
}

}  // namespace

absl::StatusOr<std::unique_ptr<RunningServer>> RunningServer::Start(
    ServiceBase* service, const std::string& config_file,
    const ServerLimits& limits, const ServerTlsSettings& tls,
    std::shared_ptr<AuthPolicy> auth) {
  // Both are process-wide switches that must precede the builder.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  // gRPC's default health service speaks health.proto without protobuf's
  // generated code, so nothing else would put its descriptor in the pool
  // that reflection describes services from (grpcurl's "server does not
  // expose service grpc.health.v1.Health"): this links it in.
  static_cast<void>(grpc::health::v1::HealthCheckRequest::descriptor());

  auto listen = service->listen_settings();
  if (!listen.ok()) return listen.status();
  const std::string& socket_path = listen->unix_socket.path;
  SB_RETURN_IF_ERROR(RemoveStaleSocketOf(*listen));
  grpc::ServerBuilder builder;
  int port = 0;
  int unix_port = 0;
  const std::shared_ptr<grpc::ServerCredentials> credentials =
      tls.Credentials();
  if (listen->has_tcp()) {
    builder.AddListeningPort(listen->tcp_address(), credentials, &port);
  }
  // With peer_credentials the socket is accepted by a UnixPeerAcceptor
  // instead, to read each peer's uid and gid.
  const bool own_unix =
      listen->has_unix_socket() && listen->unix_socket.peer_credentials;
  if (listen->has_unix_socket() && !own_unix) {
    builder.AddListeningPort(listen->unix_address(), credentials, &unix_port);
  }
  limits.ApplyTo(builder);
  auto grpc_metrics = std::make_shared<GrpcServerMetrics>();
  InstallInterceptors(*grpc_metrics, builder);
  auto service_names = std::make_shared<std::vector<std::string>>();
  builder.SetOption(std::make_unique<CollectServiceNames>(service_names));
  for (grpc::Service* s : service->grpc_services()) builder.RegisterService(s);
  if (auth != nullptr) service->SetAuthPolicy(auth);
  auto reloader =
      std::make_unique<Reloader>(service, config_file, limits, tls, auth);
  auto admin = std::make_unique<AdminService>(reloader.get(), auth);
  builder.RegisterService(admin.get());
  // Bind the socket file owner-only (umask is process-wide, but nothing
  // else of ours creates files here); its configured group and mode
  // follow, so it is never more open than configured.
  const mode_t umask_before = listen->has_unix_socket() ? umask(0177) : 0;
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  absl::StatusOr<std::unique_ptr<UnixPeerAcceptor>> acceptor =
      std::unique_ptr<UnixPeerAcceptor>();
  if (server != nullptr && own_unix) {
    acceptor = UnixPeerAcceptor::Start(socket_path, server.get());
  }
  if (listen->has_unix_socket()) umask(umask_before);
  if (server == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on '", absl::StrJoin(listen->addresses(), "' and '"),
        "' (address in use, not local, or malformed)"));
  }
  if (!acceptor.ok()) {
    StopAtOnce(*server);
    return acceptor.status();
  }
  SocketFileId socket;
  if (listen->has_unix_socket()) {
    socket = IdentifySocket(socket_path);
    if (absl::Status s = ApplySocketPermissions(listen->unix_socket); !s.ok()) {
      StopAtOnce(*server);
      RemoveSocketIfSame(socket_path, socket);
      return s;
    }
  }
  auto health =
      std::make_shared<GrpcHealthReporter>(server->GetHealthCheckService());
  for (const std::string& name : *service_names) {
    health->SetServing(name, true);
  }
  grpc_metrics->SetServices(*service_names);
  auto running = std::unique_ptr<RunningServer>(new RunningServer(
      service, std::move(reloader), std::move(admin), health, std::move(server),
      port, *std::move(listen), tls.ToString(), socket));
  running->acceptor_ = *std::move(acceptor);
  running->grpc_metrics_ = std::move(grpc_metrics);
  service->SetHealthReporter(std::move(health));
  if (absl::Status s = service->Start(); !s.ok()) {
    running->Shutdown(absl::ZeroDuration());
    return s;
  }
  return running;
}

std::string RunningServer::dial_address() const {
  if (!listen_.has_tcp()) return listen_.unix_address();
  const std::string& host = listen_.bind_address;
  // A wildcard bind is dialled on loopback.
  if (host == "0.0.0.0" || host == "::") {
    return absl::StrCat("127.0.0.1:", port_);
  }
  if (absl::StrContains(host, ':')) return absl::StrCat("[", host, "]:", port_);
  return absl::StrCat(host, ":", port_);
}

bool RunningServer::loopback_only() const {
  if (!listen_.has_tcp()) return true;
  const std::string& host = listen_.bind_address;
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

std::vector<std::string> RunningServer::listeners() const {
  std::vector<std::string> out;
  if (listen_.has_tcp()) {
    out.push_back(absl::StrCat(listen_.tcp_address(), " (port ", port_, ", ",
                               tls_text_, ")"));
  }
  if (listen_.has_unix_socket()) {
    std::string line = absl::StrCat(listen_.unix_address(), " (mode ",
                                    FormatFileMode(listen_.unix_socket.mode));
    if (!listen_.unix_socket.group.empty()) {
      absl::StrAppend(&line, ", group ", listen_.unix_socket.group);
    }
    if (listen_.unix_socket.peer_credentials) {
      absl::StrAppend(&line, ", plaintext, peer credentials)");
    } else {
      absl::StrAppend(&line, ", ", tls_text_, ")");
    }
    out.push_back(line);
  }
  return out;
}

void RunningServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  health_->ShutDown();
  // A reload still running finishes (it may be reconnecting upstream);
  // nothing is queued behind it.
  reloader_->Stop();
  acceptor_.reset();  // no new unix socket connections
  service_->Drain();
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
  // gRPC may have removed it already; a newer server's socket at the same
  // path is left alone.
  RemoveSocketIfSame(listen_.unix_socket.path, socket_);
  service_->Stop();
}

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

}  // namespace

namespace {

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

}  // namespace

namespace {
int RunService(const ServiceSpec& spec, const ConfigNode& config,
               const sigset_t& signals);
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

namespace {

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

}  // namespace switchboard
