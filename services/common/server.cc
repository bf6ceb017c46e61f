#include "services/common/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/impl/server_initializer.h>
#include <sys/stat.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.pb.h"
#include "services/common/admin_service.h"
#include "services/common/logging.h"
#include "services/common/status_macros.h"

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

// The process-wide switches that must precede the first builder.
void EnableHealthAndReflection() {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  // gRPC's default health service speaks health.proto without protobuf's
  // generated code, so nothing else would put its descriptor in the pool
  // that reflection describes services from (grpcurl's "server does not
  // expose service grpc.health.v1.Health"): this links it in.
  static_cast<void>(grpc::health::v1::HealthCheckRequest::descriptor());
}

// The ports gRPC binds, written when the server starts: they must outlive
// the builder's BuildAndStart.
struct BoundPorts {
  int tcp = 0;
  int unix_socket = 0;
};

// Adds `listen`'s listeners to `builder`, but for a unix socket with
// peer_credentials: a UnixPeerAcceptor accepts that one instead, to read
// each peer's uid and gid. Returns whether there is such a socket.
bool AddListeners(const ListenSettings& listen,
                  const std::shared_ptr<grpc::ServerCredentials>& credentials,
                  grpc::ServerBuilder& builder, BoundPorts& ports) {
  if (listen.has_tcp()) {
    builder.AddListeningPort(listen.tcp_address(), credentials, &ports.tcp);
  }
  const bool own_unix =
      listen.has_unix_socket() && listen.unix_socket.peer_credentials;
  if (listen.has_unix_socket() && !own_unix) {
    builder.AddListeningPort(listen.unix_address(), credentials,
                             &ports.unix_socket);
  }
  return own_unix;
}

// A started grpc::Server with its listeners bound.
struct Listening {
  std::unique_ptr<grpc::Server> server;
  // With `own_unix`, what accepts the unix socket; else null.
  std::unique_ptr<UnixPeerAcceptor> acceptor;
  // The unix socket file bound, if any.
  SocketFileId socket;
};

// Builds and starts the server; with `own_unix` starts the acceptor of the
// unix socket. A unix socket file gets its configured group and mode. On
// error nothing is left listening.
absl::StatusOr<Listening> BuildAndListen(grpc::ServerBuilder& builder,
                                         const ListenSettings& listen,
                                         bool own_unix) {
  const std::string& socket_path = listen.unix_socket.path;
  Listening out;
  // Bind the socket file owner-only (umask is process-wide, but nothing
  // else of ours creates files here); its configured group and mode
  // follow, so it is never more open than configured.
  const mode_t umask_before = listen.has_unix_socket() ? umask(0177) : 0;
  out.server = builder.BuildAndStart();
  absl::StatusOr<std::unique_ptr<UnixPeerAcceptor>> acceptor =
      std::unique_ptr<UnixPeerAcceptor>();
  if (out.server != nullptr && own_unix) {
    acceptor = UnixPeerAcceptor::Start(socket_path, out.server.get());
  }
  if (listen.has_unix_socket()) umask(umask_before);
  if (out.server == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on '", absl::StrJoin(listen.addresses(), "' and '"),
        "' (address in use, not local, or malformed)"));
  }
  if (!acceptor.ok()) {
    StopAtOnce(*out.server);
    return acceptor.status();
  }
  out.acceptor = *std::move(acceptor);
  if (listen.has_unix_socket()) {
    out.socket = IdentifySocket(socket_path);
    if (absl::Status s = ApplySocketPermissions(listen.unix_socket); !s.ok()) {
      StopAtOnce(*out.server);
      RemoveSocketIfSame(socket_path, out.socket);
      return s;
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RunningServer>> RunningServer::Start(
    ServiceBase* service, const std::string& config_file,
    const ServerLimits& limits, const ServerTlsSettings& tls,
    std::shared_ptr<AuthPolicy> auth) {
  EnableHealthAndReflection();
  SB_ASSIGN_OR_RETURN(ListenSettings listen, service->listen_settings());
  SB_RETURN_IF_ERROR(RemoveStaleSocketOf(listen));
  grpc::ServerBuilder builder;
  BoundPorts ports;
  const bool own_unix = AddListeners(listen, tls.Credentials(), builder, ports);
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
  SB_ASSIGN_OR_RETURN(Listening listening,
                      BuildAndListen(builder, listen, own_unix));
  auto health = std::make_shared<GrpcHealthReporter>(
      listening.server->GetHealthCheckService());
  for (const std::string& name : *service_names) {
    health->SetServing(name, true);
  }
  grpc_metrics->SetServices(*service_names);
  auto running = std::unique_ptr<RunningServer>(
      new RunningServer(service, std::move(reloader), std::move(admin), health,
                        std::move(listening.server), ports.tcp,
                        std::move(listen), tls.ToString(), listening.socket));
  running->acceptor_ = std::move(listening.acceptor);
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

}  // namespace switchboard
