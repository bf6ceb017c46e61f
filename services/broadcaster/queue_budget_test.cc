#include "services/broadcaster/queue_budget.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard::broadcaster {
namespace {

using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

TEST(QueueBudgetTest, CapsNewNamesWithAClearErrorAndKnownOnesPass) {
  QueueBudget budget({/*max_queues=*/3, absl::Hours(1)});
  for (const char* q : {"app.a", "app.b", "link.l1"}) {
    EXPECT_TRUE(budget.Admit(q, kT0).ok()) << q;
  }
  absl::Status s = budget.Admit("app.c", kT0 + absl::Minutes(1));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("routing.max_dynamic_queues (3) reached"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("'app.c'"));
  EXPECT_TRUE(budget.Admit("app.a", kT0 + absl::Minutes(2)).ok());
  EXPECT_EQ(budget.size(), 3u);
}

TEST(QueueBudgetTest, IdleNamesMakeRoom) {
  QueueBudget budget({/*max_queues=*/2, absl::Hours(1)});
  ASSERT_TRUE(budget.Admit("app.old", kT0).ok());
  ASSERT_TRUE(budget.Admit("app.busy", kT0).ok());
  ASSERT_TRUE(budget.Admit("app.busy", kT0 + absl::Minutes(90)).ok());
  // app.old was last used 2h ago: it goes, app.busy (30 min) stays.
  EXPECT_TRUE(budget.Admit("app.new", kT0 + absl::Hours(2)).ok());
  EXPECT_EQ(budget.Admit("app.newer", kT0 + absl::Hours(2)).code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(QueueBudgetTest, ZeroMeansNoCap) {
  QueueBudget budget({/*max_queues=*/0, absl::Hours(1)});
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(budget.Admit("app." + std::to_string(i), kT0).ok());
  }
}

}  // namespace
}  // namespace switchboard::broadcaster
