// ConsumerConfig: its defaults, the settings of credit, deadlines and the
// dedup store, and their errors, which name the field.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/consumer/consumer_fixture.h"
#include "services/consumer/consumer_service.h"

namespace switchboard::consumer {
namespace {

using ::testing::HasSubstr;

::testing::AssertionResult RefusedNaming(const std::string& yaml,
                                         const std::string& field) {
  auto config = ConsumerConfig::Parse(Yaml(yaml), "");
  if (config.ok()) return ::testing::AssertionFailure() << "accepted";
  if (config.status().message().find(field) == std::string::npos) {
    return ::testing::AssertionFailure() << config.status();
  }
  return ::testing::AssertionSuccess();
}

TEST(AckDeadlineConfigTest, OutOfRangeIsRefusedNamingTheField) {
  auto config = ConsumerConfig::Parse(Yaml("ack_deadline: 500ms\n"), "");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("ack_deadline"), std::string::npos)
      << config.status();
  config = ConsumerConfig::Parse(Yaml("ack_deadline: 0s\n"), "");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->ack_deadline, absl::ZeroDuration());
}

TEST(DedupConfigTest, TheOldKeyStillWorksAndBothAreRefused) {
  auto config = ConsumerConfig::Parse(Yaml("dedup_window: 7\n"), "");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->dedup_window, 7u);
  EXPECT_EQ(config->dedup_store, "memory");
  config = ConsumerConfig::Parse(Yaml("dedup:\n  window: 9\n"), "");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->dedup_window, 9u);
  EXPECT_TRUE(
      RefusedNaming("dedup_window: 7\ndedup:\n  window: 9\n", "dedup.window"));
}

TEST(DedupConfigTest, FileStoreNeedsADirectoryAndAWindow) {
  EXPECT_TRUE(RefusedNaming("dedup:\n  store: disk\n", "dedup.store"));
  EXPECT_TRUE(RefusedNaming("dedup:\n  store: file\n", "dedup.directory"));
  EXPECT_TRUE(
      RefusedNaming("dedup:\n  store: file\n  window: 0\n  directory: /tmp\n",
                    "dedup.store"));
  EXPECT_TRUE(RefusedNaming("dedup:\n  stor: file\n", "stor"));
}

TEST(DedupConfigTest, MissingDirectoryFailsAtStartNamingIt) {
  auto config = ConsumerConfig::Parse(
      Yaml("dedup:\n  store: file\n  directory: /nonexistent/dedup\n"), "");
  ASSERT_TRUE(config.ok()) << config.status();
  auto service = ConsumerService::Create(*std::move(config));
  ASSERT_FALSE(service.ok());
  EXPECT_NE(service.status().message().find("dedup.directory"),
            std::string::npos)
      << service.status();
}

TEST(ConsumerConfigTest, DefaultsAreValid) {
  auto config = ConsumerConfig::Parse(ConfigNode(), "");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen.primary_address(), "0.0.0.0:50052");
  EXPECT_EQ(config->bridge_address, "127.0.0.1:50053");
  EXPECT_EQ(config->default_credit, 100u);
  EXPECT_EQ(config->max_credit, 10000u);
}

TEST(ConsumerConfigTest, ErrorsNameTheField) {
  struct Case {
    std::string yaml;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {"max_credit: 100\ndefault_credit: 200\n",
            "default_credit: must be 1 to max_credit"},
           {"default_credit: 0\n", "default_credit: must be 1 to max_credit"},
           {"max_credit: 0\n", "max_credit: must be 1 to 65535"},
           {"max_credit: 70000\n", "max_credit: must be 1 to 65535"},
           {"credit: 5\n", "credit: unknown setting"},
           {"bridge:\n  adress: 127.0.0.1:50053\n",
            "bridge.adress: unknown setting"},
           {"max_credit: lots\n", "max_credit: expected an integer"},
       }) {
    auto config = ConsumerConfig::Parse(Yaml(c.yaml), "");
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument)
        << c.yaml;
    EXPECT_THAT(std::string(config.status().message()),
                HasSubstr("consumer.yaml: " + c.expected));
  }
}

}  // namespace
}  // namespace switchboard::consumer
