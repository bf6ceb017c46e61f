// Per-queue limits (QueueLimits) as conformance tests: the same semantics on
// every driver that declares the queue_limits capability.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "services/mq-bridge/transport/conformance/conformance_fixture.h"
#include "services/mq-bridge/transport/conformance/delivery_collector.h"

namespace switchboard::bridge::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

QueueOptions Limited(uint64_t max_length, OverflowPolicy overflow) {
  QueueOptions o;
  o.limits.max_length = max_length;
  o.limits.overflow = overflow;
  return o;
}

// Subscribes to `queue`, takes `n` deliveries, acks them; returns their ids.
std::vector<std::string> Take(ConformanceFixture& f, const std::string& queue,
                              size_t n) {
  DeliveryCollector got;
  auto sub = f.t().Subscribe({{queue}, 1000}, got.handler());
  EXPECT_TRUE(sub.ok()) << sub.status();
  if (!sub.ok()) return {};
  std::vector<Delivery> d = got.WaitFor(n);
  EXPECT_TRUE((*sub)->Ack(Tags(d)).ok());
  return Ids(d);
}

// The reproduced outage: an unread queue filled up and every later batch
// was refused whole, so no app got anything more. With drop-head (the
// default policy) the full queue keeps its newest messages and the others
// go on.
TEST_P(TransportConformanceTest, FullDropHeadQueueKeepsTheNewestAndBlocksNothing) {
  ConformanceFixture f(GetParam());
  SB_REQUIRE_CAPABILITY(f, queue_limits);
  const std::string unread = f.Declare("unread",
                                       Limited(5, OverflowPolicy::kDropHead));
  const std::string app = f.Declare("app");
  std::vector<std::string> ids;
  for (int batch = 0; batch < 3; ++batch) {
    std::vector<OutgoingMessage> messages;
    for (int i = 0; i < 4; ++i) {
      ids.push_back(absl::StrCat("m", batch * 4 + i));
      messages.push_back(f.Message(ids.back(), {unread, app}));
    }
    PublishResult r = f.PublishWithRefusals(std::move(messages));
    ASSERT_TRUE(r.status.ok()) << r.status;
    EXPECT_TRUE(r.refused.empty());
  }
  ASSERT_TRUE(f.StatsEventually(unread, [](const QueueStats& s) {
    return s.depth == 5;
  }));
  EXPECT_THAT(Take(f, app, 12), ElementsAreArray(ids));
  EXPECT_THAT(Take(f, unread, 5), ElementsAre("m7", "m8", "m9", "m10", "m11"));
  if (f.t().capabilities().drop_counters) {
    EXPECT_EQ(f.Stats(unread).dropped, 7u);
  }
}

TEST_P(TransportConformanceTest, MaxBytesBoundsTheReadyPayload) {
  ConformanceFixture f(GetParam());
  SB_REQUIRE_CAPABILITY(f, queue_limits);
  QueueOptions options;
  // Payloads are "payload-mN": 10 bytes each; room for three.
  options.limits.max_bytes = 30;
  const std::string q = f.Declare("bytes", options);
  f.PublishMany(q, 6, "m", 2);
  ASSERT_TRUE(
      f.StatsEventually(q, [](const QueueStats& s) { return s.depth == 3; }));
  EXPECT_THAT(Take(f, q, 3), ElementsAre("m3", "m4", "m5"));
}

// A full reject-publish queue refuses the message for itself only: the
// batch's other queues take it, and the refusal names message and queue.
TEST_P(TransportConformanceTest, RejectPublishRefusesOnlyThatQueue) {
  ConformanceFixture f(GetParam());
  SB_REQUIRE_CAPABILITY(f, queue_limits);
  SB_REQUIRE_CAPABILITY(f, confirmed_delivery);
  const std::string full =
      f.Declare("full", Limited(2, OverflowPolicy::kRejectPublish));
  const std::string other = f.Declare("other");
  // One confirmed batch at a time (quorum queues apply their limit once
  // the previous messages are in), the last two with a second message.
  std::vector<Refusal> refused;
  for (int i = 0; i < 4; ++i) {
    std::vector<OutgoingMessage> batch;
    batch.push_back(f.Message(absl::StrCat("m", i), {full, other}));
    if (i >= 2) batch.push_back(f.Message(absl::StrCat("n", i), {other}));
    PublishResult r = f.PublishWithRefusals(std::move(batch));
    ASSERT_TRUE(r.status.ok()) << r.status;
    for (Refusal& x : r.refused) refused.push_back(std::move(x));
  }
  // Quorum queues check their limit after an enqueue, so one message more
  // may get in (capabilities: exact_limits).
  const bool exact = f.t().capabilities().exact_limits;
  if (exact) {
    ASSERT_EQ(refused.size(), 2u);
  } else {
    ASSERT_GE(refused.size(), 1u);
    ASSERT_LE(refused.size(), 2u);
  }
  for (const Refusal& r : refused) {
    EXPECT_EQ(r.message, 0u);
    EXPECT_EQ(r.queue, full);
    EXPECT_EQ(r.status.code(), absl::StatusCode::kResourceExhausted)
        << r.status;
  }
  EXPECT_THAT(Take(f, other, 6),
              ElementsAre("m0", "m1", "m2", "n2", "m3", "n3"));
  if (exact) {
    EXPECT_THAT(Take(f, full, 2), ElementsAre("m0", "m1"));
  } else {
    EXPECT_EQ(Take(f, full, 4 - refused.size()).size(), 4 - refused.size());
  }
  EXPECT_EQ(f.Stats(full).rejected, refused.size());
}

TEST_P(TransportConformanceTest, DeadLetterMovesTheDroppedHead) {
  ConformanceFixture f(GetParam());
  SB_REQUIRE_CAPABILITY(f, queue_limits);
  const std::string q = f.Declare("dl", Limited(2, OverflowPolicy::kDeadLetter));
  f.PublishMany(q, 5, "m", 1);
  // m0, m1, m2 were dead-lettered; the dead-letter queue is bounded like its
  // queue, so it keeps the newest two.
  const std::string dead = absl::StrCat("dead.", q);
  ASSERT_TRUE(
      f.StatsEventually(dead, [](const QueueStats& s) { return s.depth == 2; }));
  EXPECT_THAT(Take(f, dead, 2), ElementsAre("m1", "m2"));
  EXPECT_THAT(Take(f, q, 2), ElementsAre("m3", "m4"));
  if (f.t().capabilities().drop_counters) {
    EXPECT_EQ(f.Stats(q).dead_lettered, 3u);
  }
}

TEST_P(TransportConformanceTest, MessagesPastTheirTtlExpire) {
  ConformanceFixture f(GetParam());
  SB_REQUIRE_CAPABILITY(f, queue_limits);
  QueueOptions options;
  options.limits.message_ttl = absl::Milliseconds(100);
  const std::string q = f.Declare("ttl", options);
  f.PublishMany(q, 3);
  ASSERT_TRUE(
      f.StatsEventually(q, [](const QueueStats& s) { return s.depth == 0; }));
  if (f.t().capabilities().drop_counters) {
    EXPECT_EQ(f.Stats(q).expired, 3u);
  }
  // A subscriber that is there takes a fresh message before it expires.
  DeliveryCollector got;
  auto sub = f.t().Subscribe({{q}, 10}, got.handler());
  ASSERT_TRUE(sub.ok());
  f.PublishMany(q, 1, "fresh");
  EXPECT_THAT(Ids(got.WaitFor(1)), ElementsAre("fresh0"));
}

// A queue nobody uses expires; one with a subscriber does not. (No sleep:
// the idle queue is declared after the watched one got its subscriber, so
// by the time it is gone the watched one was as long without use.) It is
// watched by publishing to it, which does not count as use (looking it up
// would: RabbitMQ renews the lease on a passive declare).
TEST_P(TransportConformanceTest, IdleQueuesExpireAndUsedOnesStay) {
  ConformanceFixture f(GetParam());
  SB_REQUIRE_CAPABILITY(f, queue_limits);
  SB_REQUIRE_CAPABILITY(f, confirmed_delivery);
  QueueOptions options;
  options.limits.expires = absl::Milliseconds(300);
  const std::string watched = f.Declare("watched", options);
  DeliveryCollector got;
  auto sub = f.t().Subscribe({{watched}, 10}, got.handler());
  ASSERT_TRUE(sub.ok());
  const std::string idle = f.Declare("idle", options);
  absl::Time deadline = absl::Now() + kWait;
  absl::Status published;
  int n = 0;
  while (absl::Now() < deadline) {
    published = f.Publish({f.Message(absl::StrCat("m", n++), {idle})});
    if (!published.ok()) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_EQ(published.code(), absl::StatusCode::kNotFound)
      << "the idle queue never expired: " << published;
  EXPECT_THAT(std::string(published.message()), HasSubstr(idle));
  // The watched queue is there, and delivers.
  ASSERT_TRUE(f.Publish({f.Message("w", {watched})}).ok());
  EXPECT_THAT(Ids(got.WaitFor(1)), ElementsAre("w"));
  // Declaring the idle one again creates it anew, empty.
  ASSERT_TRUE(f.t().DeclareQueue(idle, options).ok());
  EXPECT_EQ(f.Stats(idle).depth, 0u);
  EXPECT_TRUE(f.Publish({f.Message("again", {idle})}).ok());
}

}  // namespace
}  // namespace switchboard::bridge::testing
