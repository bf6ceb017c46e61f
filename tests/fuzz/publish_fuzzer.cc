// The broadcaster's handling of an arbitrary PublishRequest: validation
// (event_validation.h ValidateEvent), routing (router.h Router::Route) and
// the whole in-process Accept pipeline (validate, stamp, region tracking,
// routing, buffering) of a BroadcasterService whose bridge is never reached
// (it is not started: events stay in its buffer).
//
// Input: a serialized switchboard.v1.PublishRequest. Each input gets a fresh
// service, so a finding replays alone.
//
// Invariants: every queue an accepted event is routed to is a valid queue
// name, listed once; the answer has one id per event, and rejections name
// events of the batch in order.
#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "services/broadcaster/broadcaster_service.h"
#include "services/broadcaster/event_validation.h"
#include "services/broadcaster/router.h"
#include "services/common/config.h"
#include "services/common/logging.h"
#include "services/common/queue_name.h"
#include "switchboard/v1/broadcaster.pb.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using switchboard::ConfigNode;
using switchboard::broadcaster::BroadcasterConfig;
using switchboard::broadcaster::BroadcasterService;
using switchboard::broadcaster::Router;
using switchboard::v1::Event;
using switchboard::v1::PublishRequest;
using switchboard::v1::PublishResponse;

// Every routing feature on: link event types, extra queues, filters,
// regions, a small buffer.
constexpr char kConfig[] = R"(
listen: 127.0.0.1:1
bridge: {address: "127.0.0.1:1"}
buffer: {max_events: 2000, max_bytes: 4000000}
max_event_bytes: 65536
routing:
  queues:
    topology: {allow: ['kytos/topology\..*']}
filters:
  deny: ['.*\.echo']
  queues:
    verbose: {deny: ['kytos/of_core\.v0x0[14]\.messages\..*']}
links:
  event_types:
    kytos/topology.link_down: {state: down, link_id_field: link.id}
    kytos/topology.link_up: {state: up}
regions:
  enabled: true
  known: [r1]
)";

const BroadcasterConfig* config;
const Router* router;

// ValidateEvent's clock (2026-12-03 12:00 UTC); the service uses its own.
const absl::Time kNow = absl::FromUnixSeconds(1796299200);

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)switchboard::SetLogLevel("off");
  auto node = ConfigNode::Parse(kConfig, "fuzz.yaml");
  SB_FUZZ_CHECK(node.ok(), "%s", std::string(node.status().message()).c_str());
  auto parsed = BroadcasterConfig::Parse(*node, "");
  SB_FUZZ_CHECK(parsed.ok(), "%s",
                std::string(parsed.status().message()).c_str());
  config = new BroadcasterConfig(*std::move(parsed));
  router = new Router(config->routing);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  PublishRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  if (request.events_size() > 200) return 0;  // keep each run short

  // Validation and routing on their own, at a fixed clock.
  for (const Event& original : request.events()) {
    if (!switchboard::broadcaster::ValidateEvent(original, config->time_bounds,
                                                 kNow)
             .ok()) {
      continue;
    }
    Event event = original;
    auto queues = router->Route(&event);
    if (!queues.ok()) continue;
    std::set<std::string> seen;
    for (const std::string& q : *queues) {
      const absl::Status s = switchboard::ValidateQueueName(q);
      SB_FUZZ_CHECK(s.ok(), "routed to an invalid queue: %s",
                    std::string(s.message()).c_str());
      SB_FUZZ_CHECK(seen.insert(q).second, "queue '%s' listed twice",
                    q.c_str());
    }
  }

  // The whole pipeline, on the service's own clock.
  BroadcasterService service(*config);
  const int n = request.events_size();
  const PublishResponse response = service.Accept(request);
  SB_FUZZ_CHECK(response.event_ids_size() == n, "%d ids for %d events",
                response.event_ids_size(), n);
  int64_t last = -1;
  for (const auto& r : response.rejections()) {
    const int64_t index = r.index();
    SB_FUZZ_CHECK(index > last && index < n,
                  "rejection index %lld after %lld, of %d events",
                  static_cast<long long>(index), static_cast<long long>(last),
                  n);
    SB_FUZZ_CHECK(r.code() != 0, "rejection %lld with code OK",
                  static_cast<long long>(index));
    last = index;
  }
  SB_FUZZ_CHECK(response.accepted() <= static_cast<uint32_t>(n),
                "%u accepted of %d", response.accepted(), n);
  return 0;
}
