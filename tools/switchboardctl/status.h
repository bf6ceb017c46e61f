#ifndef SWITCHBOARD_TOOLS_SWITCHBOARDCTL_STATUS_H_
#define SWITCHBOARD_TOOLS_SWITCHBOARDCTL_STATUS_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/client_channel.h"

// `switchboardctl status`: one view of the three services (README "Metrics
// and status").
namespace switchboard::ctl {

struct StatusOptions {
  // Each "" = not asked.
  std::string broadcaster;
  std::string consumer;
  std::string bridge;
  ClientCredentials credentials;
  absl::Duration timeout = absl::Seconds(10);
  // Queues listed, deepest first.
  int top = 10;
};

// What one run found. A service that did not answer has `error` set.
struct StatusReport {
  struct Service {
    std::string name;     // broadcaster, consumer, bridge
    std::string address;  // "" = not asked
    // grpc.health.v1 of the server ("") and of its own service.
    std::string health;   // SERVING, NOT_SERVING, UNREACHABLE, ...
    std::string error;
  };
  std::vector<Service> services;

  // Broadcaster.
  bool have_broadcaster = false;
  uint64_t buffered = 0, buffered_bytes = 0;
  uint64_t buffer_limit_events = 0, buffer_limit_bytes = 0;
  bool bridge_connected = false;
  uint64_t accepted = 0, rejected = 0, dropped = 0;
  // Regions (Broadcaster's Regions service), when tracking is on.
  bool regions_on = false;
  std::vector<std::string> regions_up, regions_down;

  // Bridge: its transport.
  std::string transport_driver, transport_connected_to;

  // Consumer: queues, deepest first (at most `top`), and how many in all.
  struct Queue {
    std::string name;
    uint64_t depth = 0, unacked = 0;
    uint32_t subscribers = 0;
  };
  std::vector<Queue> queues;
  size_t queue_count = 0;

  // Every service asked answered SERVING.
  bool healthy() const;
};

StatusReport CollectStatus(const StatusOptions& options);

// A few lines for people; or one JSON object (--json).
void PrintStatus(const StatusReport& report, std::ostream& out);
absl::StatusOr<std::string> StatusJson(const StatusReport& report);

}  // namespace switchboard::ctl

#endif  // SWITCHBOARD_TOOLS_SWITCHBOARDCTL_STATUS_H_
