#include "services/broadcaster/region_settings.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard::broadcaster {
namespace {

TEST(RegionSettingsTest, Defaults) {
  auto config = ConfigNode::Parse("{}", "broadcaster.yaml");
  ASSERT_TRUE(config.ok());
  auto s = ParseRegionSettings(*config);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->enabled);
  EXPECT_EQ(s->alive_interval, absl::Seconds(2));
  EXPECT_EQ(s->alive_timeout, absl::Seconds(5));
  EXPECT_EQ(s->sync_interval, absl::Seconds(60));
  EXPECT_EQ(s->grace_period, absl::Seconds(900));
  EXPECT_EQ(s->queue_prefix, "region.");
}

TEST(RegionSettingsTest, ErrorsNameTheField) {
  struct Case {
    std::string yaml;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"regions: {alive_interval: 5s, alive_timeout: 5s}",
       "regions.alive_timeout: must be above alive_interval (5s)"},
      {"regions: {alive_timeout: 1s}",
       "regions.alive_timeout: must be above alive_interval (2s)"},
      {"regions: {presence: sometimes}",
       "regions.presence: expected 'connect' or 'activate', got 'sometimes'"},
      {"regions: {known: [a, b, a]}", "regions.known[2]: 'a' is listed twice"},
      {"regions: {known: ['a b']}", "regions.known[0]: 'a b' cannot name"},
      {"regions: {queue_prefix: 'r/'}", "regions.queue_prefix"},
      {"regions: {sync_interval: 0s}",
       "regions.sync_interval: must be positive"},
      {"regions: {alive_intervall: 1s}", "alive_intervall"},
  };
  for (const Case& c : cases) {
    auto config = ConfigNode::Parse(c.yaml, "broadcaster.yaml");
    ASSERT_TRUE(config.ok()) << c.yaml;
    auto s = ParseRegionSettings(*config);
    ASSERT_FALSE(s.ok()) << c.yaml;
    EXPECT_THAT(std::string(s.status().message()),
                ::testing::HasSubstr(c.error))
        << c.yaml;
  }
}

}  // namespace
}  // namespace switchboard::broadcaster
