// switchboard broadcaster: see README.md ("Configuration reference").
#include "services/broadcaster/broadcaster_service.h"
#include "services/common/server.h"

int main(int argc, char** argv) {
  return switchboard::ServiceMain(
      argc, argv,
      {"broadcaster",
       [](const switchboard::ConfigNode& config, const std::string& listen)
           -> absl::StatusOr<std::unique_ptr<switchboard::ServiceBase>> {
         auto service = switchboard::broadcaster::BroadcasterService::Create(
             config, listen);
         if (!service.ok()) return service.status();
         return std::unique_ptr<switchboard::ServiceBase>(
             *std::move(service));
       }});
}
