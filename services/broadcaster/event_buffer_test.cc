#include "services/broadcaster/event_buffer.h"

#include <thread>

#include "gtest/gtest.h"

namespace switchboard::broadcaster {
namespace {

using switchboard::v1::RoutedEvent;

std::vector<RoutedEvent> Events(int first, int n) {
  std::vector<RoutedEvent> events(n);
  for (int i = 0; i < n; ++i) {
    events[i].set_id(std::to_string(first + i));
    events[i].set_event(std::string(100, 'x'));
    events[i].add_queues("verbose");
  }
  return events;
}

std::vector<std::string> TakeIds(EventBuffer& buffer, size_t max) {
  std::vector<RoutedEvent> out;
  buffer.Take(max, 1 << 20, absl::ZeroDuration(), &out);
  std::vector<std::string> ids;
  for (const auto& e : out) ids.push_back(e.id());
  return ids;
}

TEST(EventBufferTest, RejectPolicyRefusesTheRestOfTheBatchInOrder) {
  EventBuffer buffer({/*max_events=*/5, 1 << 20, OverflowPolicy::kReject});
  auto first = Events(0, 3);
  EXPECT_EQ(buffer.Push(first), 3u);
  auto second = Events(3, 4);
  EXPECT_EQ(buffer.Push(second), 2u);
  // Refused events are left intact for the caller to report.
  EXPECT_EQ(second[2].id(), "5");
  EXPECT_EQ(buffer.stats().events, 5u);
  EXPECT_EQ(buffer.stats().dropped, 0u);
}

// A command's per-region copies form one group: buffered all or none, so a
// command refused in part never runs twice when its producer retries it.
// (Before groups, the copies that fitted were buffered and the producer was
// told to retry the whole command.)
TEST(EventBufferTest, AGroupIsTakenWholeOrNotAtAll) {
  EventBuffer buffer({/*max_events=*/4, 1 << 20, OverflowPolicy::kReject});
  auto first = Events(0, 2);
  EXPECT_EQ(buffer.Push(first), 2u);
  // "2" alone, then a command's three copies "3", "4", "5".
  auto batch = Events(2, 4);
  const std::vector<size_t> group_ends = {1, 4};
  EXPECT_EQ(buffer.Push(batch, group_ends), 1u);
  EXPECT_EQ(buffer.stats().events, 3u);
  EXPECT_EQ(TakeIds(buffer, 10), (std::vector<std::string>{"0", "1", "2"}));
  // With room, the whole group goes in.
  uint64_t bytes = 0;
  for (int i = 0; i < 3; ++i) bytes += EventBuffer::Cost(Events(i, 1)[0]);
  buffer.Release(3, bytes);
  std::vector<RoutedEvent> again(batch.begin() + 1, batch.end());
  const std::vector<size_t> one_group = {3};
  EXPECT_EQ(buffer.Push(again, one_group), 3u);
  EXPECT_EQ(TakeIds(buffer, 10), (std::vector<std::string>{"3", "4", "5"}));
}

TEST(EventBufferTest, ByteLimitCounts) {
  const uint64_t cost = EventBuffer::Cost(Events(0, 1)[0]);
  EventBuffer buffer({1000, cost * 2, OverflowPolicy::kReject});
  auto events = Events(0, 3);
  EXPECT_EQ(buffer.Push(events), 2u);
  EXPECT_EQ(buffer.stats().bytes, cost * 2);
}

TEST(EventBufferTest, DropOldestMakesRoomFromWaitingEventsOnly) {
  EventBuffer buffer({3, 1 << 20, OverflowPolicy::kDropOldest});
  auto events = Events(0, 3);
  buffer.Push(events);
  // Two taken (in flight) cannot be dropped; one waiting can.
  EXPECT_EQ(TakeIds(buffer, 2), (std::vector<std::string>{"0", "1"}));
  // The newest always gets in: "3" evicts "2", then "4" evicts "3".
  auto more = Events(3, 2);
  EXPECT_EQ(buffer.Push(more), 2u);
  EXPECT_EQ(buffer.stats().dropped, 2u);
  EXPECT_EQ(TakeIds(buffer, 10), (std::vector<std::string>{"4"}));
  // With only in-flight events left to drop, a newcomer is refused.
  auto last = Events(5, 1);
  buffer.Take(10, 1 << 20, absl::ZeroDuration(), &more);
  EXPECT_EQ(buffer.Push(last), 0u);
}

TEST(EventBufferTest, ReturnedEventsGoFirstAndReleaseFreesRoom) {
  EventBuffer buffer({4, 1 << 20, OverflowPolicy::kReject});
  auto events = Events(0, 4);
  buffer.Push(events);
  std::vector<RoutedEvent> taken;
  buffer.Take(2, 1 << 20, absl::ZeroDuration(), &taken);
  buffer.Return(std::move(taken));
  EXPECT_EQ(TakeIds(buffer, 10),
            (std::vector<std::string>{"0", "1", "2", "3"}));
  EXPECT_EQ(buffer.stats().events, 4u);
  buffer.Release(4, 4 * EventBuffer::Cost(Events(0, 1)[0]));
  EXPECT_EQ(buffer.stats().events, 0u);
  EXPECT_EQ(buffer.stats().bytes, 0u);
  EXPECT_TRUE(buffer.WaitEmpty(absl::ZeroDuration()));
}

TEST(EventBufferTest, TakeWaitsForEventsAndStopsAfterClose) {
  EventBuffer buffer({10, 1 << 20, OverflowPolicy::kReject});
  std::thread producer([&] {
    auto events = Events(0, 1);
    buffer.Push(events);
  });
  std::vector<RoutedEvent> out;
  EXPECT_TRUE(buffer.Take(10, 1 << 20, absl::Seconds(30), &out));
  producer.join();
  if (out.empty()) buffer.Take(10, 1 << 20, absl::Seconds(30), &out);
  EXPECT_EQ(out.size(), 1u);
  buffer.Close();
  out.clear();
  EXPECT_FALSE(buffer.Take(10, 1 << 20, absl::Seconds(30), &out));
}

TEST(EventBufferTest, ParsesPolicies) {
  EXPECT_EQ(*ParseOverflowPolicy("reject"), OverflowPolicy::kReject);
  EXPECT_EQ(*ParseOverflowPolicy("drop_oldest"), OverflowPolicy::kDropOldest);
  EXPECT_FALSE(ParseOverflowPolicy("drop_newest").ok());
}

}  // namespace
}  // namespace switchboard::broadcaster
