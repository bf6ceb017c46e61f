#include "services/broadcaster/confirmations.h"

#include <optional>
#include <vector>

#include "gtest/gtest.h"

namespace switchboard::broadcaster {
namespace {

// What a batch's callback got, if it ran.
struct Answer {
  std::optional<std::vector<absl::Status>> outcomes;
  Confirmations::Done done() {
    return [this](std::vector<absl::Status> o) {
      ASSERT_FALSE(outcomes.has_value()) << "the callback ran twice";
      outcomes = std::move(o);
    };
  }
};

TEST(ConfirmationsTest, AnswersOnceEveryCopyIsConfirmed) {
  Confirmations c;
  Answer answer;
  const uint64_t base = c.Reserve(2);
  c.Arm(base, {2, 1}, answer.done());
  const uint64_t first[] = {base, base + 1};
  c.Confirm(first);
  EXPECT_FALSE(answer.outcomes.has_value());
  EXPECT_EQ(c.waiting(), 1u);
  const uint64_t second[] = {base};
  c.Confirm(second);
  ASSERT_TRUE(answer.outcomes.has_value());
  EXPECT_TRUE((*answer.outcomes)[0].ok());
  EXPECT_TRUE((*answer.outcomes)[1].ok());
  EXPECT_EQ(c.waiting(), 0u);
}

TEST(ConfirmationsTest, CopiesSettledBeforeArmCount) {
  Confirmations c;
  Answer answer;
  const uint64_t base = c.Reserve(1);
  const uint64_t token[] = {base};
  c.Confirm(token);
  c.Arm(base, {1}, answer.done());
  ASSERT_TRUE(answer.outcomes.has_value());
  EXPECT_TRUE((*answer.outcomes)[0].ok());
}

TEST(ConfirmationsTest, NothingToWaitForAnswersAtArm) {
  Confirmations c;
  Answer answer;
  const uint64_t base = c.Reserve(3);
  c.Arm(base, {0, 0, 0}, answer.done());
  ASSERT_TRUE(answer.outcomes.has_value());
  EXPECT_EQ(answer.outcomes->size(), 3u);
  EXPECT_EQ(c.waiting(), 0u);
}

TEST(ConfirmationsTest, ALostCopyMakesItsEventFailWithTheFirstReason) {
  Confirmations c;
  Answer answer;
  const uint64_t base = c.Reserve(2);
  c.Arm(base, {2, 1}, answer.done());
  const uint64_t e0[] = {base};
  c.Lose(e0, absl::ResourceExhaustedError("queue 'a' refused it"));
  c.Lose(e0, absl::InvalidArgumentError("second reason"));
  const uint64_t e1[] = {base + 1};
  c.Confirm(e1);
  ASSERT_TRUE(answer.outcomes.has_value());
  EXPECT_EQ((*answer.outcomes)[0],
            absl::ResourceExhaustedError("queue 'a' refused it"));
  EXPECT_TRUE((*answer.outcomes)[1].ok());
}

TEST(ConfirmationsTest, BatchesAreIndependentAndTokenZeroIsIgnored) {
  Confirmations c;
  Answer a, b;
  const uint64_t base_a = c.Reserve(1);
  const uint64_t base_b = c.Reserve(1);
  EXPECT_NE(base_a, base_b);
  c.Arm(base_a, {1}, a.done());
  c.Arm(base_b, {1}, b.done());
  const uint64_t tokens[] = {0, base_b};
  c.Confirm(tokens);
  EXPECT_FALSE(a.outcomes.has_value());
  EXPECT_TRUE(b.outcomes.has_value());
  // A token of a batch already answered changes nothing.
  c.Confirm(tokens);
  EXPECT_EQ(c.waiting(), 1u);
}

}  // namespace
}  // namespace switchboard::broadcaster
