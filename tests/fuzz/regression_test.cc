// Unit tests of what the fuzzers found (each input is also in the corpus,
// replayed by <fuzzer>_corpus_test).
#include <string>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/broadcaster/broadcaster_service.h"
#include "services/broadcaster/router.h"
#include "services/common/config.h"
#include "services/common/queue_name.h"
#include "services/consumer/consumer_service.h"

namespace switchboard {
namespace {

using ::testing::HasSubstr;

ConfigNode Yaml(const std::string& text) {
  auto node = ConfigNode::Parse(text, "test.yaml");
  EXPECT_TRUE(node.ok()) << node.status();
  return node.ok() ? *node : ConfigNode();
}

// config_fuzzer, crash-long-*-queue-prefix.yaml: a queue prefix of 183 to
// 199 characters passed the configs' check (prefix + "x" a valid name), but
// QueueNameFor cuts such a prefix from its hashed names, so an app or link
// queue no longer started with its prefix: the broadcaster's dynamic-queue
// budget and last-value declaration, and the consumer's link view, which
// recognise queues by prefix, missed them.
TEST(FuzzRegressionTest, QueuePrefixesLeaveQueueNameForRoom) {
  const std::string too_long(kMaxQueueNamePrefixLength + 1, 'p');
  auto broadcaster = broadcaster::BroadcasterConfig::Parse(
      Yaml("routing:\n  app_queue_prefix: " + too_long + "\n"), "");
  EXPECT_THAT(std::string(broadcaster.status().message()),
              HasSubstr("routing.app_queue_prefix: queue name prefix"));
  broadcaster = broadcaster::BroadcasterConfig::Parse(
      Yaml("links:\n  queue_prefix: " + too_long + "\n"), "");
  EXPECT_THAT(std::string(broadcaster.status().message()),
              HasSubstr("links.queue_prefix: queue name prefix"));
  auto consumer = consumer::ConsumerConfig::Parse(
      Yaml("links:\n  queue_prefix: " + too_long + "\n"), "");
  EXPECT_THAT(std::string(consumer.status().message()),
              HasSubstr("links.queue_prefix"));

  // The longest accepted prefix stays whole, hashed names included.
  const std::string longest(kMaxQueueNamePrefixLength, 'p');
  broadcaster = broadcaster::BroadcasterConfig::Parse(
      Yaml("routing:\n  app_queue_prefix: " + longest + "\n"), "");
  ASSERT_TRUE(broadcaster.ok()) << broadcaster.status();
  const broadcaster::Router router(broadcaster->routing);
  for (const std::string& source :
       {std::string("kytos/topology"), std::string("a.b"),
        std::string(300, 's')}) {
    const std::string queue = router.AppQueue(source);
    EXPECT_TRUE(ValidateQueueName(queue).ok()) << queue;
    EXPECT_TRUE(absl::StartsWith(queue, longest)) << queue;
    EXPECT_TRUE(router.IsDynamicQueue(queue)) << queue;
  }
}

}  // namespace
}  // namespace switchboard
