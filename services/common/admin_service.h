#ifndef SWITCHBOARD_SERVICES_COMMON_ADMIN_SERVICE_H_
#define SWITCHBOARD_SERVICES_COMMON_ADMIN_SERVICE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "services/common/server.h"
#include "services/common/auth_policy.h"
#include "services/common/server_limits.h"
#include "services/common/tls_settings.h"
#include "switchboard/v1/admin.grpc.pb.h"

namespace switchboard {

// Re-reads a service's config file and hands it to ServiceBase::Reload:
// the one path shared by SIGHUP and Admin.Reload. Reloads run one at a
// time on one owned worker thread. A reload asked for while another is
// running is refused at once with ABORTED instead of waiting, so a flood of
// requests costs neither threads nor, at shutdown, time: Stop lets the
// running reload finish and nothing runs after it. Thread-safe.
class Reloader {
 public:
  // Gets the new settings generation, or why there is none (the running
  // settings then stay in force). Must not block.
  using Done = std::function<void(absl::StatusOr<uint64_t>)>;

  // `config_file` may be empty (the service runs on defaults): reloading is
  // then FAILED_PRECONDITION. `limits` and `tls` are the running server's:
  // a reload checks the file's `limits` and `tls` but keeps these (they
  // take a restart; certificate files rotate in place without one).
  // `auth` (may be null: auth off and not reloadable) takes the file's
  // `auth` section once the service accepted the rest.
  Reloader(ServiceBase* service, std::string config_file,
           ServerLimits limits = ServerLimits(),
           ServerTlsSettings tls = ServerTlsSettings(),
           std::shared_ptr<AuthPolicy> auth = nullptr);
  // Stops.
  ~Reloader();

  // Starts a reload. `done` runs on the worker thread once it is over, or
  // at once on the caller's thread with ABORTED while another reload is
  // running, or with UNAVAILABLE once Stop was called.
  void Start(Done done);

  // Refuses reloads from now on and waits for the running one, if any, to
  // finish. Idempotent.
  void Stop();

  const std::string& config_file() const { return config_file_; }

 private:
  void Run();
  // One reload, on the worker thread.
  absl::StatusOr<uint64_t> ReloadNow();

  ServiceBase* const service_;
  const std::string config_file_;
  const ServerLimits limits_;
  const ServerTlsSettings tls_;
  const std::shared_ptr<AuthPolicy> auth_;
  // Worker thread only.
  uint64_t generation_ = 0;

  absl::Mutex mu_;
  // The reload asked for and not yet taken by the worker.
  std::optional<Done> requested_ ABSL_GUARDED_BY(mu_);
  // A reload is requested or running.
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread worker_;
};

// switchboard.v1.Admin, served by every service. Reload answers once the
// reload is over, from the reloader's worker; ABORTED at once while another
// one runs.
class AdminService final : public switchboard::v1::Admin::CallbackService {
 public:
  // `reloader` must outlive the server's calls (RunningServer stops it
  // before shutting the server down).
  // `auth` (null: auth off) must grant `admin`.
  AdminService(Reloader* reloader, std::shared_ptr<AuthPolicy> auth);

  grpc::ServerUnaryReactor* Reload(
      grpc::CallbackServerContext* context,
      const switchboard::v1::ReloadRequest* request,
      switchboard::v1::ReloadResponse* response) override;

 private:
  Reloader* const reloader_;
  const std::shared_ptr<AuthPolicy> auth_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_COMMON_ADMIN_SERVICE_H_
