#include "services/common/admin_service.h"

#include "services/common/common_settings.h"
#include "services/common/logging.h"
#include "services/common/metrics/metrics.h"
#include "services/common/grpc_status.h"

namespace switchboard {

Reloader::Reloader(ServiceBase* service, std::string config_file,
                   ServerLimits limits, ServerTlsSettings tls,
                   std::shared_ptr<AuthPolicy> auth)
    : service_(service),
      config_file_(std::move(config_file)),
      limits_(limits),
      tls_(std::move(tls)),
      auth_(std::move(auth)),
      worker_([this] { Run(); }) {}

Reloader::~Reloader() { Stop(); }

void Reloader::Start(Done done) {
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      refused = absl::UnavailableError(
          "the service is shutting down; it reloads nothing more");
    } else if (busy_) {
      refused = absl::AbortedError(
          "a reload is already running; ask again once it is over");
    } else {
      busy_ = true;
      requested_ = std::move(done);
      return;
    }
  }
  done(refused);
}

void Reloader::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (worker_.joinable()) worker_.join();
}

void Reloader::Run() {
  for (;;) {
    Done done;
    bool stopping;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || requested_.has_value();
      };
      mu_.Await(absl::Condition(&ready));
      stopping = stopping_;
      if (requested_.has_value()) {
        done = std::move(*requested_);
        requested_.reset();
      }
    }
    if (stopping) {
      // Asked for but not started: shutdown wins.
      if (done) {
        done(absl::UnavailableError(
            "the service is shutting down; the reload did not run"));
      }
      return;
    }
    absl::StatusOr<uint64_t> result = ReloadNow();
    {
      absl::MutexLock lock(&mu_);
      busy_ = false;
    }
    done(std::move(result));
  }
}

absl::StatusOr<uint64_t> Reloader::ReloadNow() {
  auto log = Logger("admin");
  absl::Status s;
  bool logs_applied = false;
  if (config_file_.empty()) {
    s = absl::FailedPreconditionError(
        "the service was started without --config: there is no file to "
        "re-read");
  } else if (absl::StatusOr<ConfigNode> config =
                 ConfigNode::LoadFile(config_file_);
             !config.ok()) {
    s = config.status();
  } else if (absl::StatusOr<CommonSettings> common =
                 CommonSettings::Parse(*config, limits_);
             !common.ok()) {
    s = common.status();
  } else {
    // Applied whatever the service makes of the rest, so that a service
    // that reloads nothing else (the consumer) can still change them.
    (void)common->log.Apply();  // validated by Parse
    logs_applied = true;
    if (common->limits != limits_) {
      log->warn("limits.* changed in {}; they apply at the next restart",
                config_file_);
    }
    if (common->tls != tls_) {
      log->warn(
          "tls.* changed in {}; it applies at the next restart (the "
          "certificate files themselves are re-read every "
          "tls.refresh_interval)",
          config_file_);
    }
    s = service_->Reload(*config);
    // Identities and permissions change with the rest, or not at all.
    if (s.ok() && auth_ != nullptr) auth_->Update(std::move(common->auth));
  }
  if (!s.ok()) {
    log->error("reload refused, the running settings stay in force{}: {}",
               logs_applied ? " (log.* applied)" : "", s.ToString());
    return s;
  }
  ++generation_;
  log->info("settings reloaded from {} (generation {})", config_file_,
            generation_);
  return generation_;
}

AdminService::AdminService(Reloader* reloader,
                           std::shared_ptr<AuthPolicy> auth)
    : reloader_(reloader), auth_(std::move(auth)) {}

grpc::ServerUnaryReactor* AdminService::Reload(
    grpc::CallbackServerContext* context,
    const switchboard::v1::ReloadRequest* request,
    switchboard::v1::ReloadResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (auth_ != nullptr) {
    if (auto who = auth_->Authorize(*context, Action::kAdmin); !who.ok()) {
      reactor->Finish(ToGrpcStatus(who.status()));
      return reactor;
    }
  }
  reloader_->Start([this, reactor,
                    response](absl::StatusOr<uint64_t> generation) {
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
