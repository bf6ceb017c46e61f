// switchboard mq-bridge: see README.md ("Configuration reference").
#include "services/common/server.h"
#include "services/mq-bridge/bridge_service.h"

int main(int argc, char** argv) {
  return switchboard::ServiceMain(
      argc, argv,
      switchboard::SpecFor<switchboard::bridge::BridgeService>(
          "bridge", switchboard::bridge::BridgeService::DefaultLimits()));
}
