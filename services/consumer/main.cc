// switchboard consumer service: see README.md ("Configuration reference").
#include "services/common/server.h"
#include "services/consumer/consumer_service.h"

int main(int argc, char** argv) {
  return switchboard::ServiceMain(
      argc, argv,
      {"consumer",
       [](const switchboard::ConfigNode& config, const std::string& listen)
           -> absl::StatusOr<std::unique_ptr<switchboard::ServiceBase>> {
         auto service =
             switchboard::consumer::ConsumerService::Create(config, listen);
         if (!service.ok()) return service.status();
         return std::unique_ptr<switchboard::ServiceBase>(
             *std::move(service));
       }});
}
