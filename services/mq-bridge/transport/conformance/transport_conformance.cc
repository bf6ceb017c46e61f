#include "services/mq-bridge/transport/conformance/transport_conformance.h"

#include <atomic>
#include <map>
#include <thread>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "services/mq-bridge/transport/conformance/conformance_fixture.h"
#include "services/mq-bridge/transport/conformance/delivery_collector.h"

namespace switchboard::bridge::testing {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

TEST_P(TransportConformanceTest, DeclareIsIdempotentAndValidatesNames) {
  ConformanceFixture f(GetParam());
  std::string q = f.Q("orders");
  EXPECT_TRUE(f.t().DeclareQueue(q, {}).ok());
  EXPECT_TRUE(f.t().DeclareQueue(q, {}).ok());
  EXPECT_EQ(f.t().DeclareQueue("", {}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(f.t().DeclareQueue("bad queue/name", {}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(TransportConformanceTest, RedeclaringWithOtherOptionsFails) {
  ConformanceFixture f(GetParam());
  SB_REQUIRE_CAPABILITY(f, last_value);
  std::string q = f.Declare("plain");
  absl::Status s = f.t().DeclareQueue(q, QueueOptions{/*last_value=*/true});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
}

TEST_P(TransportConformanceTest, BatchWithUndeclaredQueueFailsWhole) {
  ConformanceFixture f(GetParam());
  std::string good = f.Declare("good");
  absl::Status s = f.Publish(
      {f.Message("a", {good}), f.Message("b", {good, f.Q("missing")})});
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("missing"));
  EXPECT_EQ(f.Stats(good).depth, 0u);
}

TEST_P(TransportConformanceTest, EmptyBatchIsConfirmedAtOnce) {
  ConformanceFixture f(GetParam());
  EXPECT_TRUE(f.Publish({}).ok());
  // Also after real traffic, and with nothing else to confirm behind it.
  std::string q = f.Declare("empty");
  ASSERT_TRUE(f.Publish({f.Message("a", {q})}).ok());
  EXPECT_TRUE(f.Publish({}).ok());
}

TEST_P(TransportConformanceTest, DeliversInPublishOrder) {
  ConformanceFixture f(GetParam());
  std::string q = f.Declare("fifo");
  std::vector<std::string> ids = f.PublishMany(q, 500);
  DeliveryCollector c;
  auto sub = f.t().Subscribe({{q}, 1000}, c.handler());
  ASSERT_TRUE(sub.ok()) << sub.status();
  std::vector<Delivery> got = c.WaitFor(ids.size());
  EXPECT_THAT(Ids(got), ElementsAreArray(ids));
  for (const Delivery& d : got) {
    EXPECT_EQ(d.queue, q);
    EXPECT_EQ(*d.payload, absl::StrCat("payload-", d.id));
    EXPECT_FALSE(d.redelivered);
  }
  ASSERT_TRUE((*sub)->Ack(Tags(got)).ok());
  EXPECT_TRUE(f.StatsEventually(
      q, [](const QueueStats& s) { return s.depth == 0 && s.unacked == 0; }));
}

TEST_P(TransportConformanceTest, DeliversToSubscriberThatCameFirst) {
  ConformanceFixture f(GetParam());
  std::string q = f.Declare("live");
  DeliveryCollector c;
  auto sub = f.t().Subscribe({{q}, 100}, c.handler());
  ASSERT_TRUE(sub.ok()) << sub.status();
  std::vector<std::string> ids = f.PublishMany(q, 50);
  EXPECT_THAT(Ids(c.WaitFor(ids.size())), ElementsAreArray(ids));
}

TEST_P(TransportConformanceTest, OneMessageFansOutToEveryNamedQueue) {
  ConformanceFixture f(GetParam());
  std::string a = f.Declare("a");
  std::string b = f.Declare("b");
  ASSERT_TRUE(f.Publish({f.Message("x", {a, b})}).ok());
  DeliveryCollector ca, cb;
  auto sa = f.t().Subscribe({{a}, 10}, ca.handler());
  auto sb = f.t().Subscribe({{b}, 10}, cb.handler());
  ASSERT_TRUE(sa.ok() && sb.ok());
  EXPECT_THAT(Ids(ca.WaitFor(1)), ElementsAreArray({"x"}));
  EXPECT_THAT(Ids(cb.WaitFor(1)), ElementsAreArray({"x"}));
}

TEST_P(TransportConformanceTest, OneSubscriptionConsumesSeveralQueues) {
  ConformanceFixture f(GetParam());
  std::string a = f.Declare("a");
  std::string b = f.Declare("b");
  f.PublishMany(a, 10, "a");
  f.PublishMany(b, 10, "b");
  DeliveryCollector c;
  auto sub = f.t().Subscribe({{a, b}, 100}, c.handler());
  ASSERT_TRUE(sub.ok());
  std::vector<Delivery> got = c.WaitFor(20);
  ASSERT_EQ(got.size(), 20u);
  std::map<std::string, std::vector<std::string>> by_queue;
  for (const Delivery& d : got) by_queue[d.queue].push_back(d.id);
  EXPECT_EQ(by_queue[a].size(), 10u);
  EXPECT_EQ(by_queue[b].size(), 10u);
  EXPECT_EQ(by_queue[a].front(), "a0");
  EXPECT_EQ(by_queue[b].back(), "b9");
}

TEST_P(TransportConformanceTest, SubscribeValidatesItsArguments) {
  ConformanceFixture f(GetParam());
  std::string q = f.Declare("q");
  DeliveryCollector c;
  EXPECT_EQ(f.t().Subscribe({{f.Q("nope")}, 1}, c.handler()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(f.t().Subscribe({{}, 1}, c.handler()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(f.t().Subscribe({{q}, 0}, c.handler()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(f.t().GetQueueStats({f.Q("nope")}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(TransportConformanceTest, PrefetchBoundsUnackedDeliveries) {
  ConformanceFixture f(GetParam());
  SB_REQUIRE_CAPABILITY(f, acks);
  std::string q = f.Declare("credit");
  f.PublishMany(q, 20);
  DeliveryCollector c;
  auto sub = f.t().Subscribe({{q}, 5}, c.handler());
  ASSERT_TRUE(sub.ok());
  std::vector<Delivery> first = c.WaitFor(5);
  ASSERT_EQ(first.size(), 5u);
  ASSERT_TRUE(f.StatsEventually(
      q, [](const QueueStats& s) { return s.unacked == 5 && s.depth == 15; }));
  EXPECT_EQ(c.size(), 5u);
  // Acking two frees exactly two places in the window.
  ASSERT_TRUE((*sub)->Ack({first[0].tag, first[1].tag}).ok());
  EXPECT_EQ(c.WaitFor(7).size(), 7u);
  ASSERT_TRUE(f.StatsEventually(
      q, [](const QueueStats& s) { return s.unacked == 5 && s.depth == 13; }));
  EXPECT_EQ(c.size(), 7u);
}

TEST_P(TransportConformanceTest, UnackedComeBackInOrderWhenSubscriptionEnds) {
  ConformanceFixture f(GetParam());
  SB_REQUIRE_CAPABILITY(f, acks);
  std::string q = f.Declare("redeliver");
  std::vector<std::string> ids = f.PublishMany(q, 30);
  {
    DeliveryCollector first;
    auto sub = f.t().Subscribe({{q}, 10}, first.handler());
    ASSERT_TRUE(sub.ok());
    std::vector<Delivery> got = first.WaitFor(10);
    ASSERT_EQ(got.size(), 10u);
    // Ack the first three only; seven stay unacked when the sub ends.
    ASSERT_TRUE((*sub)->Ack({got[0].tag, got[1].tag, got[2].tag}).ok());
    first.WaitFor(13);
  }
  DeliveryCollector second;
  auto sub = f.t().Subscribe({{q}, 100}, second.handler());
  ASSERT_TRUE(sub.ok());
  std::vector<Delivery> got = second.WaitFor(27);
  std::vector<std::string> expected(ids.begin() + 3, ids.end());
  EXPECT_THAT(Ids(got), ElementsAreArray(expected));
  ASSERT_GE(got.size(), 10u);
  EXPECT_TRUE(got[0].redelivered);
  EXPECT_GE(got[0].delivery_count, 2u);
}

TEST_P(TransportConformanceTest, NackRequeueRedeliversAndNackDropDrops) {
  ConformanceFixture f(GetParam());
  SB_REQUIRE_CAPABILITY(f, acks);
  std::string q = f.Declare("nack");
  f.PublishMany(q, 3);
  DeliveryCollector c;
  auto sub = f.t().Subscribe({{q}, 1}, c.handler());
  ASSERT_TRUE(sub.ok());
  std::vector<Delivery> got = c.WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].id, "m0");
  ASSERT_TRUE((*sub)->Nack({got[0].tag}, /*requeue=*/true).ok());
  // Settle everything else as it comes: m0 must come back once, marked
  // redelivered; dropping it removes it for good.
  std::map<std::string, int> seen;
  for (size_t n = 2; n <= 4; ++n) {
    got = c.WaitFor(n);
    ASSERT_EQ(got.size(), n);
    const Delivery& d = got.back();
    ++seen[d.id];
    if (d.id == "m0") {
      EXPECT_TRUE(d.redelivered);
      ASSERT_TRUE((*sub)->Nack({d.tag}, /*requeue=*/false).ok());
    } else {
      ASSERT_TRUE((*sub)->Ack({d.tag}).ok());
    }
  }
  EXPECT_EQ(seen,
            (std::map<std::string, int>{{"m0", 1}, {"m1", 1}, {"m2", 1}}));
  EXPECT_TRUE(f.StatsEventually(
      q, [](const QueueStats& s) { return s.depth == 0 && s.unacked == 0; }));
}

TEST_P(TransportConformanceTest, NackRequeuePutsTheDeliveryBackAtTheHead) {
  ConformanceFixture f(GetParam());
  SB_REQUIRE_CAPABILITY(f, ordered_requeue);
  std::string q = f.Declare("nackhead");
  f.PublishMany(q, 3);
  DeliveryCollector c;
  auto sub = f.t().Subscribe({{q}, 1}, c.handler());
  ASSERT_TRUE(sub.ok());
  std::vector<Delivery> got = c.WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE((*sub)->Nack({got[0].tag}, /*requeue=*/true).ok());
  got = c.WaitFor(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].id, "m0");
  EXPECT_TRUE(got[1].redelivered);
}

TEST_P(TransportConformanceTest, AckOfUnknownTagFailsAndAcksNothing) {
  ConformanceFixture f(GetParam());
  SB_REQUIRE_CAPABILITY(f, acks);
  std::string q = f.Declare("badack");
  f.PublishMany(q, 1);
  DeliveryCollector c;
  auto sub = f.t().Subscribe({{q}, 10}, c.handler());
  ASSERT_TRUE(sub.ok());
  std::vector<Delivery> got = c.WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  absl::Status s = (*sub)->Ack({got[0].tag, got[0].tag + 1000});
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_EQ(f.Stats(q).unacked, 1u);
  EXPECT_TRUE((*sub)->Ack({got[0].tag}).ok());
  EXPECT_EQ((*sub)->Ack({got[0].tag}).code(), absl::StatusCode::kNotFound);
}

TEST_P(TransportConformanceTest, CompetingConsumersEachGetDistinctMessages) {
  ConformanceFixture f(GetParam());
  std::string q = f.Declare("compete");
  DeliveryCollector c1, c2;
  auto s1 = f.t().Subscribe({{q}, 1000}, c1.handler());
  auto s2 = f.t().Subscribe({{q}, 1000}, c2.handler());
  ASSERT_TRUE(s1.ok() && s2.ok());
  std::vector<std::string> ids = f.PublishMany(q, 200);
  absl::Time deadline = absl::Now() + kWait;
  while (c1.size() + c2.size() < ids.size() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  std::vector<std::string> all = Ids(c1.WaitFor(0));
  std::vector<std::string> more = Ids(c2.WaitFor(0));
  all.insert(all.end(), more.begin(), more.end());
  std::sort(all.begin(), all.end());
  std::vector<std::string> expected = ids;
  std::sort(expected.begin(), expected.end());
  EXPECT_THAT(all, ElementsAreArray(expected));
}

TEST_P(TransportConformanceTest, LastValueQueueKeepsOnlyTheNewest) {
  ConformanceFixture f(GetParam());
  SB_REQUIRE_CAPABILITY(f, last_value);
  std::string q = f.Declare("link.1", QueueOptions{/*last_value=*/true});
  ASSERT_TRUE(f.Publish({f.Message("down1", {q})}).ok());
  ASSERT_TRUE(f.Publish({f.Message("up", {q})}).ok());
  ASSERT_TRUE(f.Publish({f.Message("down2", {q})}).ok());
  EXPECT_TRUE(f.StatsEventually(
      q, [](const QueueStats& s) { return s.depth == 1 && s.last_value; }));
  DeliveryCollector c;
  auto sub = f.t().Subscribe({{q}, 10}, c.handler());
  ASSERT_TRUE(sub.ok());
  EXPECT_THAT(Ids(c.WaitFor(1)), ElementsAreArray({"down2"}));
}

TEST_P(TransportConformanceTest, ConcurrentPublishersKeepTheirOwnOrder) {
  ConformanceFixture f(GetParam());
  std::string q = f.Declare("concurrent");
  constexpr int kPublishers = 4;
  constexpr int kEach = 500;
  DeliveryCollector c;
  auto sub = f.t().Subscribe({{q}, 10000}, c.handler());
  ASSERT_TRUE(sub.ok());
  std::vector<std::thread> threads;
  for (int p = 0; p < kPublishers; ++p) {
    threads.emplace_back([&f, &q, p] {
      f.PublishMany(q, kEach, absl::StrCat("p", p, "-"), 25);
    });
  }
  for (auto& t : threads) t.join();
  std::vector<Delivery> got = c.WaitFor(kPublishers * kEach);
  ASSERT_EQ(got.size(), static_cast<size_t>(kPublishers * kEach));
  std::map<std::string, int> next;
  for (const Delivery& d : got) {
    std::string publisher = d.id.substr(0, d.id.find('-'));
    int seq = std::stoi(d.id.substr(d.id.find('-') + 1));
    EXPECT_EQ(seq, next[publisher]) << "out of order: " << d.id;
    next[publisher] = seq + 1;
  }
}

// An event nobody acks is delivered max_deliveries times, then moved to
// dead.<queue> (a poison message cannot loop forever), where it can be read.
TEST_P(TransportConformanceTest,
       EventDeliveredMaxDeliveriesTimesIsDeadLettered) {
  ConformanceFixture f(GetParam());
  SB_REQUIRE_CAPABILITY(f, acks);
  SB_REQUIRE_CAPABILITY(f, max_deliveries);
  const uint32_t limit = f.t().capabilities().max_deliveries;
  std::string q = f.Declare("poison");
  const std::string dead = absl::StrCat("dead.", q);
  ASSERT_EQ(f.t().GetQueueStats({dead}).status().code(), absl::StatusCode::kOk)
      << "dead.<queue> is declared with its queue";
  ASSERT_TRUE(f.Publish({f.Message("poison", {q})}).ok());
  DeliveryCollector c;
  auto sub = f.t().Subscribe({{q}, 1}, c.handler());
  ASSERT_TRUE(sub.ok()) << sub.status();
  for (uint32_t n = 1; n <= limit; ++n) {
    std::vector<Delivery> got = c.WaitFor(n);
    ASSERT_EQ(got.size(), n) << "delivery " << n << " of " << limit;
    EXPECT_EQ(got.back().id, "poison");
    EXPECT_EQ(got.back().redelivered, n > 1);
    ASSERT_TRUE((*sub)->Nack({got.back().tag}, /*requeue=*/true).ok());
  }
  ASSERT_NO_FATAL_FAILURE(f.ExpectDeadLettered(dead, "poison"));
  EXPECT_TRUE(f.StatsEventually(q, [&f](const QueueStats& s) {
    return s.depth == 0 && s.unacked == 0 &&
           (!f.t().capabilities().drop_counters || s.dead_lettered == 1);
  }));
  EXPECT_EQ(c.size(), limit) << "delivered again after max_deliveries";
}

// A nack without requeue rejects the delivery: it leaves its queue for
// dead.<queue> (the consumer rejects events that are not valid there), as
// RabbitMQ dead-letters a reject.
TEST_P(TransportConformanceTest,
       NackWithoutRequeueMovesItToTheDeadLetterQueue) {
  ConformanceFixture f(GetParam());
  SB_REQUIRE_CAPABILITY(f, acks);
  SB_REQUIRE_CAPABILITY(f, max_deliveries);
  std::string q = f.Declare("rejected");
  const std::string dead = absl::StrCat("dead.", q);
  ASSERT_TRUE(f.Publish({f.Message("bad", {q}), f.Message("good", {q})}).ok());
  DeliveryCollector c;
  auto sub = f.t().Subscribe({{q}, 10}, c.handler());
  ASSERT_TRUE(sub.ok()) << sub.status();
  std::vector<Delivery> got = c.WaitFor(2);
  ASSERT_EQ(got.size(), 2u);
  ASSERT_EQ(got[0].id, "bad");
  ASSERT_TRUE((*sub)->Nack({got[0].tag}, /*requeue=*/false).ok());
  ASSERT_TRUE((*sub)->Ack({got[1].tag}).ok());
  EXPECT_TRUE(f.StatsEventually(
      q, [](const QueueStats& s) { return s.depth == 0 && s.unacked == 0; }));
  ASSERT_NO_FATAL_FAILURE(f.ExpectDeadLettered(dead, "bad"));
}

}  // namespace
}  // namespace switchboard::bridge::testing
