// Config parsing of the three services, from fuzzed YAML (or JSON):
// ConfigNode::Parse, then BroadcasterConfig::Parse, ConsumerConfig::Parse
// and the bridge's (BridgeService::Create on the memory driver, and the
// rabbitmq and zeromq drivers' settings). Each parses its own copy of the
// text, as each service reads only its own file.
//
// Invariants: a config a service accepts keeps the promises its readers rely
// on: every queue name it implies is valid, queue name prefixes leave
// QueueNameFor room (shorter than kMaxQueueNameLength - 17), so that the
// names made from them start with them (the broadcaster's dynamic-queue
// budget and Spec, and the consumer's link view, recognise queues by
// prefix).
#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "services/broadcaster/broadcaster_service.h"
#include "services/broadcaster/router.h"
#include "services/common/common_settings.h"
#include "services/common/config.h"
#include "services/common/logging.h"
#include "services/common/queue_name.h"
#include "services/consumer/consumer_service.h"
#include "services/mq-bridge/bridge_service.h"
#include "services/mq-bridge/transport/registry.h"
#include "switchboard/v1/event.pb.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using switchboard::ConfigNode;
using switchboard::kMaxQueueNameLength;
using switchboard::ValidateQueueName;

constexpr size_t kMaxPrefix = kMaxQueueNameLength - 17;

void CheckQueue(const std::string& queue, const char* what) {
  const absl::Status s = ValidateQueueName(queue);
  SB_FUZZ_CHECK(s.ok(), "%s: %s", what, std::string(s.message()).c_str());
}

void CheckPrefix(const std::string& prefix, const char* what) {
  SB_FUZZ_CHECK(prefix.size() < kMaxPrefix,
                "%s is %zu characters; QueueNameFor needs fewer than %zu", what,
                prefix.size(), kMaxPrefix);
}

// The sections every service shares, read first as ServiceMain does (the
// service's parser then counts them as known). tls and auth name files
// (certificates) the fuzzer must not open: with a `_file` key anywhere,
// they are only marked as read.
void ReadCommonSections(const ConfigNode& node, const std::string& text) {
  if (text.find("_file") == std::string::npos) {
    (void)switchboard::CommonSettings::Parse(node, switchboard::ServerLimits())
        .ok();
    return;
  }
  (void)switchboard::ServerLimits::Parse(node).ok();
  (void)switchboard::MetricsSettings::Parse(node).ok();
  (void)switchboard::LogSettings::Parse(node).ok();
  (void)node.Child("tls").ok();
  (void)node.Child("auth").ok();
}

void Broadcaster(const std::string& text) {
  auto node = ConfigNode::Parse(text, "broadcaster.yaml");
  if (!node.ok()) return;
  ReadCommonSections(*node, text);
  auto config = switchboard::broadcaster::BroadcasterConfig::Parse(*node, "");
  if (!config.ok()) return;
  const auto& routing = config->routing;
  CheckPrefix(routing.app_queue_prefix, "routing.app_queue_prefix");
  if (!routing.link_queue_prefix.empty()) {
    CheckPrefix(routing.link_queue_prefix, "links.queue_prefix");
  }
  if (config->regions.enabled) {
    CheckQueue(config->regions.unroutable_queue, "regions.unroutable_queue");
    CheckQueue(config->regions.queue_prefix + "x", "regions.queue_prefix");
  }
  const switchboard::broadcaster::Router router(routing);
  for (const std::string& q : router.StaticQueues()) {
    CheckQueue(q, "a static queue");
  }
  // The queues of two ordinary events.
  for (const char* source : {"kytos/topology", "a.b c"}) {
    const std::string app = router.AppQueue(source);
    CheckQueue(app, "an app queue");
    SB_FUZZ_CHECK(router.IsDynamicQueue(app),
                  "app queue '%s' is not recognised as one", app.c_str());
    switchboard::v1::Event event;
    event.set_source(source);
    event.set_type("kytos/topology.link_down");
    event.set_subject("s1:eth1-s2:eth1");
    event.mutable_link_status()->set_link_id("s1:eth1-s2:eth1");
    event.mutable_link_status()->set_state(switchboard::v1::LinkStatus::DOWN);
    auto queues = router.Route(&event);
    if (!queues.ok()) continue;
    for (const std::string& q : *queues) CheckQueue(q, "a routed queue");
  }
}

void Consumer(const std::string& text) {
  auto node = ConfigNode::Parse(text, "consumer.yaml");
  if (!node.ok()) return;
  ReadCommonSections(*node, text);
  auto config = switchboard::consumer::ConsumerConfig::Parse(*node, "");
  if (!config.ok()) return;
  if (!config->links.queue_prefix.empty()) {
    CheckPrefix(config->links.queue_prefix, "links.queue_prefix");
  }
}

void Bridge(const std::string& text) {
  using switchboard::bridge::TransportRegistry;
  TransportRegistry& drivers = TransportRegistry::Global();
  std::string driver = drivers.DefaultDriver();
  {
    auto node = ConfigNode::Parse(text, "bridge.yaml");
    if (!node.ok()) return;
    auto transport = node->Child("transport");
    if (transport.ok()) (void)transport->Get("driver", &driver);
  }
  // The whole config through the service, on the default (embedded)
  // driver, which connects to nothing.
  if (driver == drivers.DefaultDriver()) {
    auto node = ConfigNode::Parse(text, "bridge.yaml");
    ReadCommonSections(*node, text);
    (void)switchboard::bridge::BridgeService::Create(*node, "").ok();
  }
  // Every driver's settings section, through its check (which connects to
  // nothing). password_file would read any file the fuzzer names
  // (/dev/zero...).
  if (text.find("password_file") != std::string::npos) return;
  auto node = ConfigNode::Parse(text, "bridge.yaml");
  auto transport = node->Child("transport");
  if (!transport.ok()) return;
  for (const std::string& name : drivers.Names()) {
    auto section = transport->Child(name);
    if (section.ok()) (void)drivers.CheckSettings(name, *section).ok();
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)switchboard::SetLogLevel("off");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  Broadcaster(text);
  Consumer(text);
  Bridge(text);
  return 0;
}
