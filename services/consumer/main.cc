// switchboard consumer service: see README.md ("Configuration reference").
#include "services/common/server.h"
#include "services/consumer/consumer_service.h"

int main(int argc, char** argv) {
  return switchboard::ServiceMain(
      argc, argv,
      switchboard::SpecFor<switchboard::consumer::ConsumerService>("consumer"));
}
