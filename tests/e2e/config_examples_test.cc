// The shipped example configs (config/*.yaml) are what the README documents:
// each must load, and must equal the built-in defaults it claims to show.
#include <map>

#include "gtest/gtest.h"
#include "services/broadcaster/broadcaster_service.h"
#include "services/common/auth_policy.h"
#include "services/common/log_settings.h"
#include "services/common/metrics/metrics.h"
#include "services/common/server_limits.h"
#include "services/consumer/consumer_service.h"
#include "services/mq-bridge/bridge_service.h"
#include "tests/testing/process.h"

namespace switchboard::testing {
namespace {

// Loads an example and reads its `limits`, `metrics` and `log` first, as
// ServiceMain does (the services' own parsers leave those to it).
ConfigNode Load(const std::string& name,
                const ServerLimits& default_limits = ServerLimits()) {
  auto node = ConfigNode::LoadFile(Runfile("config/" + name));
  EXPECT_TRUE(node.ok()) << node.status();
  if (!node.ok()) return ConfigNode();
  auto limits = ServerLimits::Parse(*node, default_limits);
  EXPECT_TRUE(limits.ok()) << limits.status();
  EXPECT_TRUE(limits.ok() && *limits == default_limits)
      << name << ": limits differ from the defaults";
  auto metrics = MetricsSettings::Parse(*node);
  EXPECT_TRUE(metrics.ok()) << metrics.status();
  if (!metrics.ok()) return *node;
  EXPECT_EQ(metrics->listen, MetricsSettings().listen) << name;
  EXPECT_EQ(metrics->max_label_values, MetricsSettings().max_label_values)
      << name;
  auto log = LogSettings::Parse(*node);
  EXPECT_TRUE(log.ok()) << log.status();
  if (!log.ok()) return *node;
  EXPECT_EQ(log->format, LogSettings().format) << name;
  EXPECT_EQ(log->level, LogSettings().level) << name;
  return *node;
}

TEST(ConfigExamplesTest, BroadcasterExampleShowsTheDefaults) {
  auto file =
      broadcaster::BroadcasterConfig::Parse(Load("broadcaster.yaml"), "");
  auto defaults = broadcaster::BroadcasterConfig::Parse(ConfigNode(), "");
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(file->listen, defaults->listen);
  EXPECT_EQ(file->max_event_bytes, defaults->max_event_bytes);
  EXPECT_EQ(file->max_batch_events, defaults->max_batch_events);
  EXPECT_EQ(file->max_pending_batches, defaults->max_pending_batches);
  EXPECT_EQ(file->flush_timeout, defaults->flush_timeout);
  EXPECT_EQ(file->bridge.bridge_address, defaults->bridge.bridge_address);
  EXPECT_EQ(file->bridge.batch_max_events, defaults->bridge.batch_max_events);
  EXPECT_EQ(file->bridge.batch_max_bytes, defaults->bridge.batch_max_bytes);
  EXPECT_EQ(file->bridge.max_inflight_batches,
            defaults->bridge.max_inflight_batches);
  EXPECT_EQ(file->bridge.backoff_initial, defaults->bridge.backoff_initial);
  EXPECT_EQ(file->bridge.backoff_max, defaults->bridge.backoff_max);
  EXPECT_EQ(file->buffer.max_events, defaults->buffer.max_events);
  EXPECT_EQ(file->buffer.max_bytes, defaults->buffer.max_bytes);
  EXPECT_EQ(file->buffer.overflow, defaults->buffer.overflow);
  EXPECT_EQ(file->routing.app_queue_prefix, defaults->routing.app_queue_prefix);
  EXPECT_EQ(file->routing.verbose_queue, defaults->routing.verbose_queue);
  EXPECT_TRUE(file->routing.app_sources.passes_everything());
  EXPECT_TRUE(file->routing.extra_queues.empty());
  EXPECT_TRUE(file->routing.types.passes_everything());
  EXPECT_TRUE(file->routing.queue_filters.empty());
  EXPECT_EQ(file->routing.link_queue_prefix,
            defaults->routing.link_queue_prefix);
  EXPECT_TRUE(file->routing.link_event_types.empty());
}

TEST(ConfigExamplesTest, BridgeExampleLoads) {
  auto service = bridge::BridgeService::Create(
      Load("bridge.yaml", bridge::BridgeService::DefaultLimits()), "");
  ASSERT_TRUE(service.ok()) << service.status();
  EXPECT_EQ((*service)->listen_address(), "127.0.0.1:50053");
  EXPECT_EQ((*service)->transport().driver(), "memory");
  EXPECT_EQ((*service)->config().transport_timeout,
            bridge::BridgeConfig().transport_timeout);
}

TEST(ConfigExamplesTest, ConsumerExampleShowsTheDefaults) {
  auto file = consumer::ConsumerConfig::Parse(Load("consumer.yaml"), "");
  auto defaults = consumer::ConsumerConfig::Parse(ConfigNode(), "");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->listen, defaults->listen);
  EXPECT_EQ(file->bridge_address, defaults->bridge_address);
  EXPECT_EQ(file->default_credit, defaults->default_credit);
  EXPECT_EQ(file->max_credit, defaults->max_credit);
  EXPECT_EQ(file->dedup_window, defaults->dedup_window);
  EXPECT_EQ(file->dedup_store, defaults->dedup_store);
  EXPECT_EQ(file->dedup_directory, defaults->dedup_directory);
  EXPECT_EQ(file->ack_deadline, defaults->ack_deadline);
  EXPECT_EQ(file->links.queue_prefix, defaults->links.queue_prefix);
  EXPECT_EQ(file->links.discovery_interval, defaults->links.discovery_interval);
  EXPECT_EQ(file->limits, defaults->limits);
}

// config/security/auth.yaml, the README's example: it loads, and each
// identity may do what the README says and nothing more.
TEST(ConfigExamplesTest, SecurityExampleGrantsWhatTheReadmeSays) {
  auto node = ConfigNode::LoadFile(Runfile("config/security/auth.yaml"));
  ASSERT_TRUE(node.ok()) << node.status();
  auto auth = AuthSettings::Parse(*node);
  ASSERT_TRUE(auth.ok()) << auth.status();
  std::map<std::string, const Identity*> by_name;
  for (const auto& id : auth->identities) by_name[id->name] = id.get();
  ASSERT_EQ(by_name.size(), 6u);
  AuthPolicy policy(*auth);
  auto event = [](const std::string& source, const std::string& type) {
    switchboard::v1::Event e;
    e.set_source(source);
    e.set_type(type);
    return e;
  };
  const Identity& kytos = *by_name["kytos"];
  const Identity& sdx = *by_name["sdx"];
  const Identity& speaker_a = *by_name["speaker-a"];
  EXPECT_TRUE(AuthorizePublish(policy, &kytos,
                               event("kytos/topology", "kytos/topology.x"), "")
                  .ok());
  EXPECT_FALSE(
      AuthorizePublish(policy, &sdx, event("kytos/topology", "sdx/x"), "")
          .ok());
  EXPECT_TRUE(
      AuthorizePublish(policy, &sdx, event("sdx/app", "sdx/x"), "").ok());
  switchboard::v1::Event command = event("sdx/app", "sdx/x");
  command.mutable_command()->add_target_switches("s1");
  EXPECT_FALSE(AuthorizePublish(policy, &sdx, command, "").ok());
  EXPECT_TRUE(sdx.subscribe.Matches("app.kytos.topology"));
  EXPECT_FALSE(sdx.subscribe.Matches("app.kytos.of_core"));
  EXPECT_FALSE(sdx.subscribe.Matches("region.a"));
  EXPECT_TRUE(AuthorizePublish(policy, &speaker_a,
                               event("speaker/a", "speaker.switch.connected"),
                               "a")
                  .ok());
  EXPECT_FALSE(AuthorizePublish(policy, &speaker_a,
                                event("speaker/a", "speaker.switch.connected"),
                                "b")
                   .ok());
  EXPECT_TRUE(speaker_a.subscribe.Matches("region.a"));
  EXPECT_FALSE(speaker_a.subscribe.Matches("region.b"));
  EXPECT_TRUE(by_name["operator"]->admin);
  EXPECT_FALSE(by_name["operator"]->publish_sources.Matches("kytos/x"));
  EXPECT_TRUE(by_name["switchboard"]->bridge);
  EXPECT_EQ(sdx.token_sha256, Sha256Hex("token-of-sdx"));
}

}  // namespace
}  // namespace switchboard::testing
