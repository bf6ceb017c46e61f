#include "tools/switchboardctl/command_line.h"

#include <optional>

#include "absl/flags/flag.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

// Flags like switchboardctl's, registered for this test.
ABSL_FLAG(std::string, t_addr, "", "");
ABSL_FLAG(std::string, t_json, "", "");
ABSL_FLAG(bool, t_stdin, false, "");
ABSL_FLAG(std::optional<int64_t>, t_count, std::nullopt, "");
ABSL_FLAG(std::vector<std::string>, t_queue, {}, "");

namespace switchboard::ctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::StatusOr<PreParsedCommandLine> Pre(std::vector<std::string> args) {
  args.insert(args.begin(), "switchboardctl");
  return PreParseCommandLine(args, {"t_json"});
}

TEST(PreParseCommandLineTest, SplitsFlagsAndPositionals) {
  auto pre = Pre({"publish", "--t_addr=h:1", "-t_count", "5", "--not_stdin",
                  "--t_stdin", "--", "--literal"});
  ASSERT_TRUE(pre.ok()) << pre.status();
  EXPECT_THAT(pre->positional, ElementsAre("publish", "--literal"));
  EXPECT_THAT(pre->flags_given, ElementsAre("t_addr", "t_count", "t_stdin"));
  EXPECT_EQ(absl::GetFlag(FLAGS_t_count), 5);
  EXPECT_THAT(
      pre->args,
      ElementsAre("switchboardctl", "publish", "--t_addr=h:1", "-t_count", "5",
                  "--not_stdin", "--t_stdin", "--", "--literal"));
  EXPECT_FALSE(pre->usage_requested);
}

TEST(PreParseCommandLineTest, UnknownFlagIsAnError) {
  auto pre = Pre({"tail", "--nope=1"});
  ASSERT_FALSE(pre.ok());
  EXPECT_THAT(pre.status().message(), HasSubstr("unknown flag --nope"));
  // "no" only negates booleans.
  EXPECT_FALSE(Pre({"--not_addr"}).ok());
}

TEST(PreParseCommandLineTest, BadValueAndMissingValueAreErrors) {
  auto bad = Pre({"--t_count=ten"});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("t_count"));
  auto missing = Pre({"--t_addr"});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("missing its value"));
  EXPECT_FALSE(Pre({"--not_stdin=true"}).ok());
}

TEST(PreParseCommandLineTest, BareSwitchLikeFlagBecomesTrue) {
  auto pre = Pre({"queues", "--t_json", "--t_addr=x"});
  ASSERT_TRUE(pre.ok()) << pre.status();
  EXPECT_THAT(pre->args, ElementsAre("switchboardctl", "queues",
                                     "--t_json=true", "--t_addr=x"));
  EXPECT_THAT(pre->positional, ElementsAre("queues"));

  auto last = Pre({"--t_json"});
  ASSERT_TRUE(last.ok());
  EXPECT_THAT(last->args, ElementsAre("switchboardctl", "--t_json=true"));

  auto negated = Pre({"--not_json"});
  ASSERT_TRUE(negated.ok()) << negated.status();
  EXPECT_THAT(negated->args, ElementsAre("switchboardctl", "--t_json=false"));
}

TEST(PreParseCommandLineTest, SwitchLikeFlagStillTakesAnObjectValue) {
  auto pre = Pre({"--t_json", R"({"a":1})", "publish"});
  ASSERT_TRUE(pre.ok()) << pre.status();
  EXPECT_THAT(pre->positional, ElementsAre("publish"));
  EXPECT_EQ(absl::GetFlag(FLAGS_t_json), R"({"a":1})");
}

TEST(PreParseCommandLineTest, RecordsRepeatedValues) {
  auto pre = Pre({"--t_queue=a,b", "--t_queue", "c"});
  ASSERT_TRUE(pre.ok()) << pre.status();
  EXPECT_THAT(pre->values.at("t_queue"), ElementsAre("a,b", "c"));
}

TEST(PreParseCommandLineTest, UsageFlagsAreLeftToAbsl) {
  auto pre = Pre({"--help"});
  ASSERT_TRUE(pre.ok());
  EXPECT_TRUE(pre->usage_requested);
  EXPECT_TRUE(Pre({"--helpfull"})->usage_requested);
}

TEST(CheckFlagsApplyTest, RejectsOwnFlagsOfOtherSubcommands) {
  const std::set<std::string> own = {"broadcaster", "consumer", "queue"};
  EXPECT_TRUE(
      CheckFlagsApply("tail", {"consumer", "queue"}, own, {"consumer", "queue"})
          .ok());
  // Flags that are not the tool's own (absl's --flagfile, ...) pass.
  EXPECT_TRUE(CheckFlagsApply("tail", {"flagfile"}, own, {"consumer"}).ok());
  absl::Status s =
      CheckFlagsApply("tail", {"broadcaster"}, own, {"consumer", "queue"});
  EXPECT_THAT(s.message(), HasSubstr("--broadcaster does not apply to 'tail'"));
}

}  // namespace
}  // namespace switchboard::ctl
