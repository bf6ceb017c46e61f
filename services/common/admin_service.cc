#include "services/common/admin_service.h"

#include "services/common/logging.h"
#include "services/common/status.h"

namespace switchboard {

Reloader::Reloader(ServiceBase* service, std::string config_file)
    : service_(service), config_file_(std::move(config_file)) {}

absl::StatusOr<uint64_t> Reloader::Reload() {
  absl::MutexLock lock(&mu_);
  auto log = Logger("admin");
  absl::Status s;
  if (config_file_.empty()) {
    s = absl::FailedPreconditionError(
        "the service was started without --config: there is no file to "
        "re-read");
  } else {
    absl::StatusOr<ConfigNode> config = ConfigNode::LoadFile(config_file_);
    s = config.ok() ? service_->Reload(*config) : config.status();
  }
  if (!s.ok()) {
    log->error("reload refused, the running settings stay in force: {}",
               s.ToString());
    return s;
  }
  ++generation_;
  log->info("settings reloaded from {} (generation {})", config_file_,
            generation_);
  return generation_;
}

AdminService::AdminService(Reloader* reloader) : reloader_(reloader) {}

AdminService::~AdminService() {
  std::vector<std::thread> workers;
  {
    absl::MutexLock lock(&mu_);
    workers.swap(workers_);
  }
  for (std::thread& t : workers) t.join();
}

grpc::ServerUnaryReactor* AdminService::Reload(
    grpc::CallbackServerContext* context,
    const switchboard::v1::ReloadRequest* request,
    switchboard::v1::ReloadResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::MutexLock lock(&mu_);
  workers_.emplace_back([this, reactor, response] {
    absl::StatusOr<uint64_t> generation = reloader_->Reload();
    if (!generation.ok()) {
      reactor->Finish(ToGrpcStatus(generation.status()));
      return;
    }
    response->set_config_file(reloader_->config_file());
    response->set_generation(*generation);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace switchboard
