#include "services/broadcaster/queue_limits.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard::broadcaster {
namespace {

using ::switchboard::v1::QueueLimits;
using ::testing::HasSubstr;

absl::StatusOr<QueueLimitRules> FromYaml(const std::string& yaml) {
  auto node = ConfigNode::Parse(yaml, "broadcaster.yaml");
  EXPECT_TRUE(node.ok()) << node.status();
  auto limits = node->Child("queue_limits");
  EXPECT_TRUE(limits.ok()) << limits.status();
  return QueueLimitRules::Parse(*limits);
}

TEST(QueueLimitsTest, DefaultBoundsEveryQueueWithDropHead) {
  QueueLimitRules rules;
  EXPECT_EQ(rules.For("verbose").max_length(), 100000u);
  EXPECT_EQ(rules.For("verbose").overflow(), QueueLimits::DROP_HEAD);
  auto parsed = FromYaml("{}");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->For("app.x").max_length(), 100000u);
}

TEST(QueueLimitsTest, FirstMatchingPatternWinsOverTheDefault) {
  auto rules = FromYaml(
      "queue_limits:\n"
      "  default: {max_length: 50, message_ttl: 1m}\n"
      "  patterns:\n"
      "    'region\\..*': {overflow: dead-letter, max_bytes: 1000}\n"
      "    'region\\.a': {overflow: reject-publish}\n"
      "    'app\\..*': {expires: 24h}\n");
  ASSERT_TRUE(rules.ok()) << rules.status();
  const QueueLimits& region = rules->For("region.a");
  EXPECT_EQ(region.overflow(), QueueLimits::DEAD_LETTER);
  EXPECT_EQ(region.max_bytes(), 1000u);
  EXPECT_EQ(region.max_length(), 50u) << "unset fields come from default";
  EXPECT_EQ(region.message_ttl_ms(), 60000u);
  EXPECT_EQ(rules->For("app.kytos.topology").expires_ms(), 86400000u);
  EXPECT_EQ(rules->For("verbose").expires_ms(), 0u);
  EXPECT_EQ(rules->For("xregion.a").overflow(), QueueLimits::DROP_HEAD)
      << "patterns match the whole name";
}

TEST(QueueLimitsTest, ErrorsNameTheField) {
  auto bad = FromYaml("queue_limits: {default: {overflow: drop-tail}}\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("queue_limits.default.overflow: expected drop-head, "
                        "reject-publish or dead-letter, got 'drop-tail'"));
  bad = FromYaml("queue_limits: {patterns: {'a(': {}}}\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("invalid pattern 'a('"));
  bad = FromYaml("queue_limits: {default: {max_lenght: 3}}\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("max_lenght: unknown setting"));
  bad = FromYaml("queue_limits: {default: {expires: 10ms}}\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("expires: must be 0s (never) or at least 1s"));
}

}  // namespace
}  // namespace switchboard::broadcaster
