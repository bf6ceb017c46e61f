// switchboard broadcaster: see README.md ("Configuration reference").
#include "services/broadcaster/broadcaster_service.h"
#include "services/common/server.h"

int main(int argc, char** argv) {
  return switchboard::ServiceMain(
      argc, argv,
      switchboard::SpecFor<switchboard::broadcaster::BroadcasterService>(
          "broadcaster"));
}
