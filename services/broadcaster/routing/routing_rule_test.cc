#include "services/broadcaster/routing/routing_rule.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/common/config.h"

namespace switchboard::broadcaster::routing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

PatternFilter FilterOf(const std::string& yaml) {
  auto node = ConfigNode::Parse(yaml, "f.yaml");
  EXPECT_TRUE(node.ok()) << node.status();
  auto filter = PatternFilter::Parse(*node);
  EXPECT_TRUE(filter.ok()) << filter.status();
  return filter.ok() ? *std::move(filter) : PatternFilter();
}

TEST(CandidatesTest, AppendsInOrderWithoutDuplicates) {
  std::vector<std::string> queues = {"first"};
  QueueFilters filters;
  Candidates out(&queues, &filters, "t", /*open=*/true);
  EXPECT_TRUE(out.open());
  const std::string held = "b";
  out.Add(std::string("a"));
  out.Add(held);
  out.Add(std::string("a"));
  out.Add("first");
  EXPECT_THAT(queues, ElementsAre("first", "a", "b"));
  EXPECT_EQ(held, "b");
}

TEST(CandidatesTest, AppliesEachQueuesOwnFilter) {
  std::vector<std::string> queues;
  QueueFilters filters;
  filters["denied"] = FilterOf("deny: ['t']\n");
  filters["allowed"] = FilterOf("allow: ['t']\n");
  Candidates out(&queues, &filters, "t", /*open=*/true);
  out.Add(std::string("denied"));
  out.Add(std::string("allowed"));
  out.Add(std::string("unfiltered"));
  EXPECT_THAT(queues, ElementsAre("allowed", "unfiltered"));
}

TEST(CandidatesTest, ClosedAddsNothing) {
  std::vector<std::string> queues;
  QueueFilters filters;
  Candidates out(&queues, &filters, "t", /*open=*/false);
  EXPECT_FALSE(out.open());
  out.Add(std::string("a"));
  EXPECT_THAT(queues, IsEmpty());
}

}  // namespace
}  // namespace switchboard::broadcaster::routing
