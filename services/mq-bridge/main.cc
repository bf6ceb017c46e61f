// switchboard mq-bridge: see README.md ("Configuration reference").
#include "services/common/server.h"
#include "services/mq-bridge/bridge_service.h"

int main(int argc, char** argv) {
  return switchboard::ServiceMain(
      argc, argv,
      {"bridge",
       [](const switchboard::ConfigNode& config, const std::string& listen)
           -> absl::StatusOr<std::unique_ptr<switchboard::ServiceBase>> {
         auto service =
             switchboard::bridge::BridgeService::Create(config, listen);
         if (!service.ok()) return service.status();
         return std::unique_ptr<switchboard::ServiceBase>(
             *std::move(service));
       }});
}
