#include "services/mq-bridge/transport/memory/memory_transport.h"

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/mq-bridge/transport/conformance/transport_conformance.h"
#include "services/mq-bridge/transport/registry.h"

namespace switchboard::bridge {
namespace {

using ::testing::HasSubstr;
using testing::TransportConformanceTest;

INSTANTIATE_TEST_SUITE_P(Memory, TransportConformanceTest,
                         ::testing::Values(testing::TransportUnderTest{
                             "memory", [] {
                               return std::make_unique<MemoryTransport>(
                                   MemoryTransport::Settings{});
                             }}));

absl::Status PublishOne(Transport& t, const std::string& queue,
                        size_t payload_size) {
  absl::Status result;
  absl::Notification done;
  t.Publish(
      {OutgoingMessage{"id",
                       std::make_shared<const std::string>(payload_size, 'x'),
                       {queue}}},
      [&](absl::Status s) {
        result = s;
        done.Notify();
      });
  done.WaitForNotification();
  return result;
}

// The transport-wide bounds refuse the message for the full queue only
// (reject-publish queues), never the whole batch.
TEST(MemoryTransportTest, QueueDepthBoundRefusesThatQueueWithAClearError) {
  MemoryTransport t(MemoryTransport::Settings{/*max_queue_depth=*/2});
  QueueOptions reject;
  reject.limits.overflow = OverflowPolicy::kRejectPublish;
  ASSERT_TRUE(t.DeclareQueue("q", reject).ok());
  ASSERT_TRUE(t.DeclareQueue("other", {}).ok());
  EXPECT_TRUE(PublishOne(t, "q", 10).ok());
  EXPECT_TRUE(PublishOne(t, "q", 10).ok());
  PublishResult r;
  t.Publish({OutgoingMessage{"x", std::make_shared<const std::string>("p"),
                             {"q", "other"}}},
            [&](PublishResult got) { r = std::move(got); });
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.refused.size(), 1u);
  EXPECT_EQ(r.refused[0].queue, "q");
  EXPECT_EQ(r.refused[0].status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(r.refused[0].status.message()),
              HasSubstr("transport.memory.max_queue_depth"));
  // By name: every queue also has its dead.<queue> (max_deliveries).
  auto stats = t.GetQueueStats({"q", "other"});
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(stats->size(), 2u);
  EXPECT_EQ((*stats)[0].name, "other");
  EXPECT_EQ((*stats)[0].depth, 1u);
  EXPECT_EQ((*stats)[1].depth, 2u);
  EXPECT_EQ((*stats)[1].rejected, 1u);
}

// A drop-head queue (the default) at the transport's bounds makes room from
// its own head instead.
TEST(MemoryTransportTest, ByteBoundDropsTheHeadOfADropHeadQueue) {
  MemoryTransport t(MemoryTransport::Settings{1000, /*max_total_bytes=*/100});
  ASSERT_TRUE(t.DeclareQueue("q", {}).ok());
  EXPECT_TRUE(PublishOne(t, "q", 60).ok());
  EXPECT_TRUE(PublishOne(t, "q", 60).ok());
  auto stats = t.GetQueueStats({"q"});
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ((*stats)[0].depth, 1u);
  EXPECT_EQ((*stats)[0].dropped, 1u);
}

TEST(MemoryTransportTest, DropOldestMakesRoomAndCounts) {
  MemoryTransport::Settings settings;
  settings.max_queue_depth = 3;
  settings.overflow = MemoryTransport::Overflow::kDropOldest;
  MemoryTransport t(settings);
  ASSERT_TRUE(t.DeclareQueue("q", {}).ok());
  std::vector<OutgoingMessage> batch;
  for (int i = 0; i < 5; ++i) {
    batch.push_back(OutgoingMessage{
        absl::StrCat("m", i), std::make_shared<const std::string>("x"), {"q"}});
  }
  absl::Status published = absl::UnknownError("not called");
  t.Publish(std::move(batch), [&](absl::Status s) { published = s; });
  ASSERT_TRUE(published.ok()) << published;
  EXPECT_EQ(t.dropped(), 2u);
  std::vector<std::string> ids;
  auto sub = t.Subscribe({{"q"}, 10}, [&](std::vector<Delivery> got) {
    for (const Delivery& d : got) ids.push_back(d.id);
  });
  ASSERT_TRUE(sub.ok());
  EXPECT_THAT(ids, ::testing::ElementsAre("m2", "m3", "m4"));
  // All three are unacked now: nothing ready to drop, so the newcomer goes.
  EXPECT_TRUE(PublishOne(t, "q", 1).ok());
  EXPECT_EQ(t.dropped(), 3u);
  EXPECT_EQ(ids.size(), 3u);
}

TEST(MemoryTransportTest, RegistryCreatesByNameAndListsKnownOnUnknown) {
  auto created = TransportRegistry::Global().Create("memory", ConfigNode());
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)->driver(), "memory");

  auto unknown = TransportRegistry::Global().Create("kafka", ConfigNode());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(unknown.status().message()),
              HasSubstr("unknown transport driver 'kafka' (known: memory"));
}

TEST(MemoryTransportTest, SettingsAreValidatedWithFieldNames) {
  auto node = ConfigNode::Parse("max_queue_depth: 0\n", "bridge.yaml");
  ASSERT_TRUE(node.ok());
  auto created = MemoryTransport::Create(*node);
  EXPECT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(created.status().message()),
              HasSubstr("max_queue_depth: must be at least 1"));

  node = ConfigNode::Parse("max_depth: 3\n", "bridge.yaml");
  EXPECT_THAT(std::string(MemoryTransport::Create(*node).status().message()),
              HasSubstr("max_depth: unknown setting"));
}

}  // namespace
}  // namespace switchboard::bridge
