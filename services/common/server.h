#ifndef SWITCHBOARD_SERVICES_COMMON_SERVER_H_
#define SWITCHBOARD_SERVICES_COMMON_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/auth_policy.h"
#include "services/common/config.h"
#include "services/common/listen_settings.h"
#include "services/common/metrics/grpc_server_metrics.h"
#include "services/common/server_limits.h"
#include "services/common/tls_settings.h"
#include "services/common/unix_peers.h"
#include "services/common/unix_socket_file.h"

namespace switchboard {

// Where a service reports, per gRPC service name, whether it can do its job
// (grpc.health.v1: SERVING or NOT_SERVING). Thread-safe. Reports made once
// the server has begun shutting down are ignored (everything is NOT_SERVING
// then).
class HealthReporter {
 public:
  virtual ~HealthReporter() = default;
  virtual void SetServing(const std::string& service, bool serving) = 0;
};

// A switchboard service as its main() and in-process tests see it: gRPC
// services to serve, plus work to do around the server's lifetime.
// Implementations are thread-safe; the runner calls Start, then Drain, then
// Stop, each once.
class ServiceBase {
 public:
  virtual ~ServiceBase() = default;

  // Where to listen, e.g. "0.0.0.0:50051", "127.0.0.1:0" (any free port) or
  // "unix:/run/switchboard.sock"; with several listeners, the primary one.
  virtual std::string listen_address() const = 0;
  // Every listener, with the unix socket's file mode and group. By default
  // the one listen_address() (a unix socket then gets mode 0660).
  virtual absl::StatusOr<ListenSettings> listen_settings() const {
    return ListenSettings::FromAddress(listen_address());
  }
  // The gRPC services to register. Owned by the ServiceBase.
  virtual std::vector<grpc::Service*> grpc_services() = 0;

  // Called once before Start: where to report the health of this service's
  // gRPC services, each SERVING until reported otherwise. Reports may be
  // made from any thread, for as long as the service lives.
  virtual void SetHealthReporter(std::shared_ptr<HealthReporter> health) {}
  // Called once before Start by servers that run with an `auth` section
  // (ServiceMain always does; with auth off the policy allows everything,
  // and a reload may turn it on): who the callers of this service's RPCs
  // are and what they may do. Not called: everything is allowed.
  virtual void SetAuthPolicy(std::shared_ptr<AuthPolicy> auth) {}
  // Called once the server listens (e.g. to connect to upstream services).
  virtual absl::Status Start() { return absl::OkStatus(); }
  // Called on shutdown before the server stops: end long-lived streams
  // cleanly so the server's shutdown does not wait for them.
  virtual void Drain() {}
  // Called after the server has stopped: flush buffers, close upstreams.
  virtual void Stop() {}
  // The service's own metrics (README "Metrics"), registered with the
  // /metrics listener when `metrics.listen` is set. Owned by the service;
  // collected from the listener's threads while the service lives.
  virtual std::vector<std::shared_ptr<prometheus::Collectable>>
  metrics_collectables(const MetricsSettings& settings) {
    return {};
  }
  // SIGHUP: apply the settings of a re-read config file. On error the
  // running settings stay in force.
  virtual absl::Status Reload(const ConfigNode& config) {
    return absl::UnimplementedError(
        "this service cannot reload its settings yet; restart it");
  }
};

class Reloader;
class AdminService;
class GrpcHealthReporter;

// A gRPC server with health checking (grpc.health.v1), server reflection and
// switchboard.v1.Admin, serving one ServiceBase on every listener of its
// listen_settings(). A unix socket file: a stale one (no server accepts on
// it) is removed before binding, any other kind of file there is an error;
// once bound it gets the configured group and mode; it is removed at
// shutdown.
//
// Health: the overall status ("") and every gRPC service the server lists
// start SERVING; the ServiceBase reports its own services' changes through
// SetHealthReporter. Shutdown turns everything NOT_SERVING first.
class RunningServer {
 public:
  // Builds and starts the server. Errors name the addresses (and for a unix
  // socket the path and the errno text).
  // `config_file` is what Admin.Reload and reload() re-read; empty when the
  // service runs on defaults. `limits` bound what clients may send.
  // `tls` secures every listener (plaintext when not enabled). `auth`
  // (null: auth off) is handed to the service (SetAuthPolicy) and guards
  // Admin; a reload updates it.
  static absl::StatusOr<std::unique_ptr<RunningServer>> Start(
      ServiceBase* service, const std::string& config_file = "",
      const ServerLimits& limits = ServerLimits(),
      const ServerTlsSettings& tls = ServerTlsSettings(),
      std::shared_ptr<AuthPolicy> auth = nullptr);

  ~RunningServer();

  // The TCP port actually bound (useful with port 0); 0 without TCP.
  int port() const { return port_; }
  // "127.0.0.1:PORT" style address clients can dial; "unix:/path" without
  // TCP.
  std::string dial_address() const;
  // "unix:/path" when there is a unix socket, else "".
  std::string unix_address() const { return listen_.unix_address(); }
  // One line per listener for the log: "0.0.0.0:50051 (port 50051,
  // plaintext)", "unix:/run/x.sock (mode 0660, group switchboard, tls)".
  std::vector<std::string> listeners() const;
  // Whether every listener is a unix socket or a loopback TCP address.
  bool loopback_only() const;

  // Reports NOT_SERVING, refuses new reloads and lets a running one finish
  // (nothing is queued behind it), drains, stops accepting, waits for
  // in-flight RPCs up to `grace` (then cancels them), then Stop.
  // Idempotent.
  void Shutdown(absl::Duration grace);

  // Re-reads the config file and reloads the service (SIGHUP's path).
  Reloader& reloader() { return *reloader_; }

  // Every RPC this server handled, by method and code.
  const std::shared_ptr<GrpcServerMetrics>& grpc_metrics() const {
    return grpc_metrics_;
  }

 private:
  RunningServer(ServiceBase* service, std::unique_ptr<Reloader> reloader,
                std::unique_ptr<AdminService> admin,
                std::shared_ptr<GrpcHealthReporter> health,
                std::unique_ptr<grpc::Server> server, int port,
                ListenSettings listen, std::string tls_text,
                SocketFileId socket);

  ServiceBase* service_;
  ListenSettings listen_;
  std::string tls_text_;  // ServerTlsSettings::ToString()
  std::shared_ptr<GrpcHealthReporter> health_;
  // The socket file this server created, removed at shutdown.
  SocketFileId socket_;
  // The server's interceptors point at it: declared before server_, so
  // destroyed after it.
  std::shared_ptr<GrpcServerMetrics> grpc_metrics_;
  std::unique_ptr<Reloader> reloader_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<grpc::Server> server_;
  // Accepts the unix socket with peer_credentials; else null.
  std::unique_ptr<UnixPeerAcceptor> acceptor_;
  int port_;
  bool shut_down_ = false;
};

// What ServiceMain needs to know of one service.
struct ServiceSpec {
  // "broadcaster", "bridge" or "consumer": logger and messages.
  std::string name;
  // Builds the service from its parsed config file (an empty ConfigNode when
  // no --config is given). `listen_override` is --listen, empty if unset.
  std::function<absl::StatusOr<std::unique_ptr<ServiceBase>>(
      const ConfigNode& config, const std::string& listen_override)>
      create;
  // Validates the parsed config file as `create` would, without opening,
  // binding or connecting anything (--check_config).
  std::function<absl::Status(const ConfigNode& config,
                             const std::string& listen_override)>
      check;
  // This service's defaults of the `limits` settings.
  ServerLimits default_limits;
};

// The ServiceSpec of a ServiceBase subclass with static
//   absl::StatusOr<std::unique_ptr<T>> Create(const ConfigNode&, const
//   std::string&) and
//   absl::Status CheckConfig(const ConfigNode&, const std::string&).
template <typename T>
ServiceSpec SpecFor(std::string name, ServerLimits limits = ServerLimits()) {
  return ServiceSpec{
      std::move(name),
      [](const ConfigNode& config, const std::string& listen_override)
          -> absl::StatusOr<std::unique_ptr<ServiceBase>> {
        auto service = T::Create(config, listen_override);
        if (!service.ok()) return service.status();
        return std::unique_ptr<ServiceBase>(*std::move(service));
      },
      &T::CheckConfig, limits};
}

// The whole main() of a service: flags (--config, --listen, --port_file,
// --log_level, --shutdown_grace, --check_config), config validation (exit code
// 2 with the error on stderr), the `limits` section (read before the service's
// own settings), serving, graceful shutdown on SIGTERM or SIGINT, and
// ServiceBase::Reload with the re-read --config file on SIGHUP (the same
// path as Admin.Reload: one reload at a time, SIGTERM never waits for
// another).
int ServiceMain(int argc, char** argv, const ServiceSpec& spec);

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_COMMON_SERVER_H_
