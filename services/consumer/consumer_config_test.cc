// ConsumerConfig: the settings of deadlines and the dedup store, and their
// errors, which name the field.
#include <string>

#include "gtest/gtest.h"
#include "services/consumer/consumer_fixture.h"
#include "services/consumer/consumer_service.h"

namespace switchboard::consumer {
namespace {

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

}  // namespace
}  // namespace switchboard::consumer
