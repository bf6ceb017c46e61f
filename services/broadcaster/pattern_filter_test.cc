#include "services/broadcaster/pattern_filter.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard::broadcaster {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<PatternFilter> FromYaml(const std::string& yaml) {
  auto node = ConfigNode::Parse(yaml, "t.yaml");
  if (!node.ok()) return node.status();
  auto filters = node->Child("filters");
  if (!filters.ok()) return filters.status();
  return PatternFilter::Parse(*filters);
}

TEST(PatternFilterTest, EmptyPassesEverything) {
  PatternFilter f;
  EXPECT_TRUE(f.passes_everything());
  EXPECT_TRUE(f.Passes("anything"));
  auto parsed = FromYaml("filters: {}\n");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->passes_everything());
}

TEST(PatternFilterTest, AllowMatchesTheWholeString) {
  auto f = FromYaml("filters:\n  allow: ['kytos/topology\\..*', 'of_core']\n");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(f->Passes("kytos/topology.link_down"));
  EXPECT_TRUE(f->Passes("of_core"));
  // Anchored at both ends: neither a prefix nor a substring match passes.
  EXPECT_FALSE(f->Passes("of_core.v0x04"));
  EXPECT_FALSE(f->Passes("x.kytos/topology.link_down"));
  EXPECT_FALSE(f->Passes("kytos/mef_eline.created"));
}

TEST(PatternFilterTest, DenyWins) {
  auto f = FromYaml(
      "filters:\n  allow: ['kytos/.*']\n  deny: ['.*\\.messages\\..*']\n");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(f->Passes("kytos/topology.link_up"));
  EXPECT_FALSE(f->Passes("kytos/of_core.messages.in.ofpt_echo"));
  auto deny_only = FromYaml("filters:\n  deny: heartbeat\n");
  ASSERT_TRUE(deny_only.ok());
  EXPECT_FALSE(deny_only->Passes("heartbeat"));
  EXPECT_TRUE(deny_only->Passes("heartbeats"));
}

TEST(PatternFilterTest, InvalidPatternNamesFieldIndexAndPattern) {
  auto f = FromYaml("filters:\n  deny: ['ok', 'kytos/(']\n");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(f.status().message()),
              HasSubstr("filters.deny[1]: invalid pattern 'kytos/(': "
                        "missing )"));
}

TEST(PatternFilterTest, BackreferencesAreRefusedNotBacktracked) {
  // RE2 has no backreferences: the classic catastrophic patterns are either
  // refused or run in linear time.
  auto refused = FromYaml("filters:\n  allow: ['(a)\\1']\n");
  EXPECT_FALSE(refused.ok());
  auto f = FromYaml("filters:\n  allow: ['(a+)+b']\n");
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->Passes(std::string(100000, 'a')));
}

}  // namespace
}  // namespace switchboard::broadcaster
