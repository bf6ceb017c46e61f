#ifndef SWITCHBOARD_SERVICES_COMMON_ADMIN_SERVICE_H_
#define SWITCHBOARD_SERVICES_COMMON_ADMIN_SERVICE_H_

#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "services/common/server.h"
#include "switchboard/v1/admin.grpc.pb.h"

namespace switchboard {

// Re-reads a service's config file and hands it to ServiceBase::Reload:
// the one path shared by SIGHUP and Admin.Reload. Reloads run one at a
// time, so two racing requests cannot interleave half-applied settings.
// Thread-safe.
class Reloader {
 public:
  // `config_file` may be empty (the service runs on defaults): reloading is
  // then FAILED_PRECONDITION.
  Reloader(ServiceBase* service, std::string config_file);

  // The new settings generation on success. On error the running settings
  // stay in force.
  absl::StatusOr<uint64_t> Reload();

  const std::string& config_file() const { return config_file_; }

 private:
  ServiceBase* const service_;
  const std::string config_file_;
  absl::Mutex mu_;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

// switchboard.v1.Admin, served by every service.
class AdminService final : public switchboard::v1::Admin::CallbackService {
 public:
  explicit AdminService(Reloader* reloader);
  // Waits for reloads still running.
  ~AdminService() override;

  grpc::ServerUnaryReactor* Reload(
      grpc::CallbackServerContext* context,
      const switchboard::v1::ReloadRequest* request,
      switchboard::v1::ReloadResponse* response) override;

 private:
  Reloader* const reloader_;
  absl::Mutex mu_;
  // A reload can take seconds (it may reconnect upstream), longer than a
  // callback thread should be held.
  std::vector<std::thread> workers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_COMMON_ADMIN_SERVICE_H_
