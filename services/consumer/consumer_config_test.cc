// ConsumerConfig: its defaults, the settings of credit, deadlines and the
// dedup store and the link view, and their errors, which name the field.
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

// A config that must be refused: its YAML, and the error it must give
// after "consumer.yaml: " (the field, then why).
struct RefusedCase {
  std::string yaml;
  std::string expected;
};

void ExpectEachRefused(const std::vector<RefusedCase>& cases) {
  for (const RefusedCase& c : cases) {
    auto config = ConsumerConfig::Parse(Yaml(c.yaml), "");
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument)
        << c.yaml;
    EXPECT_THAT(std::string(config.status().message()),
                HasSubstr("consumer.yaml: " + c.expected));
  }
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
  ExpectEachRefused({
      {"max_credit: 100\ndefault_credit: 200\n",
       "default_credit: must be 1 to max_credit"},
      {"default_credit: 0\n", "default_credit: must be 1 to max_credit"},
      {"max_credit: 0\n", "max_credit: must be 1 to 65535"},
      {"max_credit: 70000\n", "max_credit: must be 1 to 65535"},
      {"credit: 5\n", "credit: unknown setting"},
      {"bridge:\n  adress: 127.0.0.1:50053\n",
       "bridge.adress: unknown setting"},
      {"max_credit: lots\n", "max_credit: expected an integer"},
  });
}

TEST(LinkViewConfigTest, Defaults) {
  auto config = ConsumerConfig::Parse(ConfigNode(), "");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->links.queue_prefix, "link.");
  EXPECT_EQ(config->links.discovery_interval, absl::Seconds(1));

  config = ConsumerConfig::Parse(
      Yaml("links:\n  queue_prefix: \"\"\n  discovery_interval: 250ms\n"), "");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->links.queue_prefix, "");
  EXPECT_EQ(config->links.discovery_interval, absl::Milliseconds(250));
}

TEST(LinkViewConfigTest, ErrorsNameTheField) {
  ExpectEachRefused({
      {"links:\n  queue_prefix: link/\n",
       "links.queue_prefix: 'link/' cannot start a queue name"},
      {"links:\n  queue_prefix: " + std::string(200, 'l') + "\n",
       "links.queue_prefix: '" + std::string(200, 'l') +
           "' cannot start a queue name"},
      {"links:\n  discovery_interval: 0s\n",
       "links.discovery_interval: must be more than 0"},
      {"links:\n  discovery_interval: soon\n",
       "links.discovery_interval: expected a duration"},
      {"links:\n  prefix: link.\n", "links.prefix: unknown setting"},
      {"links: link.\n", "links: expected a mapping"},
  });
}

}  // namespace
}  // namespace switchboard::consumer
