// Exactly once to the app across a consumer killed with SIGKILL: with
// `dedup.store: file` the restarted consumer still knows which ids the app
// acked, and drops them when they come again (here a producer's retry of
// an event whose answer it never saw, republished with the same id). The
// same run with the memory store shows the duplicate, so the test can
// tell the two apart.
#include <csignal>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster.h"
#include "tests/testing/process.h"

namespace switchboard::testing {
namespace {

using switchboard::v1::Event;
using switchboard::v1::EventDelivery;

Event WithId(const std::string& id) {
  Event e = MakeEvents("restart", "t", 1)[0];
  e.set_id(id);
  return e;
}

// Acks every delivery of `queue` until it is empty and nothing is unacked:
// the bridge has applied the acks, so the consumer had stored their ids.
::testing::AssertionResult DrainAndAck(Cluster& cluster,
                                       const std::string& queue, size_t n) {
  auto app = Subscriber::Open(cluster.consumer_address(), {queue}, 10,
                              /*auto_ack=*/true);
  if (!app.ok()) return ::testing::AssertionFailure() << app.status();
  if ((*app)->WaitFor(n).size() != n) {
    const grpc::Status ended = (*app)->Wait(absl::ZeroDuration());
    return ::testing::AssertionFailure()
           << "not delivered; the stream: " << ended.error_code() << " "
           << ended.error_message();
  }
  const bool settled = Eventually([&] {
    auto list = ListQueues(cluster.consumer_address());
    if (!list.ok()) return false;
    for (const auto& q : list->queues()) {
      if (q.name() == queue) return q.depth() == 0 && q.unacked() == 0;
    }
    return false;
  });
  (*app)->Cancel();
  (*app)->Wait();
  if (!settled) return ::testing::AssertionFailure() << "acks not applied";
  return ::testing::AssertionSuccess();
}

// Kills the consumer with SIGKILL and starts it again.
void Kill9AndRestartConsumer(Cluster& cluster) {
  cluster.consumer().Signal(SIGKILL);
  EXPECT_EQ(cluster.consumer().Wait(absl::Seconds(30)), 128 + SIGKILL);
  absl::Status restarted = cluster.StartConsumer();
  EXPECT_TRUE(restarted.ok()) << restarted;
}

// The ids `app` got, once the last is `last` (it comes last in the queue:
// once it is here, whatever came before it has come too).
std::vector<std::string> IdsUntil(Cluster& cluster, Subscriber& app,
                                  const std::string& last) {
  std::vector<std::string> ids;
  EXPECT_TRUE(Eventually([&] {
    ids.clear();
    for (const EventDelivery& d : app.WaitFor(1)) {
      ids.push_back(d.event().id());
    }
    return !ids.empty() && ids.back() == last;
  })) << cluster.Log("consumer");
  return ids;
}

// Runs the scenario; returns the ids the app gets after the restart.
std::vector<std::string> IdsAfterKill9(const std::string& dedup_yaml) {
  Cluster::Options options;
  options.consumer_yaml += dedup_yaml;
  auto cluster = Cluster::Start(options);
  EXPECT_TRUE(cluster.ok()) << cluster.status();
  if (!cluster.ok()) return {};
  const std::string queue = "app.restart";
  EXPECT_TRUE(Publish((*cluster)->broadcaster_address(), {WithId("e-1")}).ok());
  EXPECT_TRUE((*cluster)->AwaitDepth(queue, 1));
  EXPECT_TRUE(DrainAndAck(**cluster, queue, 1));

  Kill9AndRestartConsumer(**cluster);

  // The same event again (first), then a new one.
  EXPECT_TRUE(
      Publish((*cluster)->broadcaster_address(), {WithId("e-1"), WithId("e-2")})
          .ok());
  auto app = Subscriber::Open((*cluster)->consumer_address(), {queue}, 10,
                              /*auto_ack=*/true);
  EXPECT_TRUE(app.ok()) << app.status();
  if (!app.ok()) return {};
  return IdsUntil(**cluster, **app, "e-2");
}

TEST(DedupRestartTest, FileStoreDropsWhatTheAppAckedBeforeAKill9) {
  const std::string dir = NewTempDir("dedup");
  EXPECT_EQ(IdsAfterKill9(absl::StrCat(
                "dedup:\n  store: file\n  directory: ", dir, "\n")),
            std::vector<std::string>{"e-2"});
}

TEST(DedupRestartTest, MemoryStoreForgetsWhatTheAppAckedBeforeAKill9) {
  EXPECT_EQ(IdsAfterKill9("dedup:\n  store: memory\n"),
            (std::vector<std::string>{"e-1", "e-2"}));
}

// The kill -9 suite's consumer case: the app received events and
// processed them, and the consumer died before their acks reached it (here
// the app had not sent them yet). The restarted consumer gets them again
// from the transport, flagged redelivered. An app that names what it
// processed in its next open (SubscribeOpen.acked) does not see them
// twice; one that does not, does.
std::vector<std::string> IdsAfterAcksLost(bool resend_acked) {
  Cluster::Options options;
  options.consumer_yaml += absl::StrCat(
      "dedup:\n  store: file\n  directory: ", NewTempDir("dedup"), "\n");
  auto cluster = Cluster::Start(options);
  EXPECT_TRUE(cluster.ok()) << cluster.status();
  if (!cluster.ok()) return {};
  const std::string queue = "app.restart";
  EXPECT_TRUE(
      Publish((*cluster)->broadcaster_address(), {WithId("e-1"), WithId("e-2")})
          .ok());
  EXPECT_TRUE((*cluster)->AwaitDepth(queue, 2));
  {
    auto app = Subscriber::Open((*cluster)->consumer_address(), {queue}, 10,
                                /*auto_ack=*/false);
    EXPECT_TRUE(app.ok()) << app.status();
    if (!app.ok()) return {};
    EXPECT_EQ((*app)->WaitFor(2).size(), 2u);
    Kill9AndRestartConsumer(**cluster);
  }
  EXPECT_TRUE(Publish((*cluster)->broadcaster_address(), {WithId("e-3")}).ok());

  switchboard::v1::SubscribeOpen open;
  open.add_queues(queue);
  open.set_credit(10);
  if (resend_acked) {
    for (const char* id : {"e-1", "e-2"}) {
      auto* acked = open.add_acked();
      acked->set_queue(queue);
      acked->set_id(id);
    }
  }
  auto app = Subscriber::Open((*cluster)->consumer_address(), open,
                              /*auto_ack=*/true);
  EXPECT_TRUE(app.ok()) << app.status();
  if (!app.ok()) return {};
  return IdsUntil(**cluster, **app, "e-3");
}

TEST(DedupRestartTest, AnAppThatResendsWhatItProcessedSeesNothingTwice) {
  EXPECT_EQ(IdsAfterAcksLost(/*resend_acked=*/true),
            std::vector<std::string>{"e-3"});
}

TEST(DedupRestartTest, AnAppThatDoesNotResendItGetsTheRedeliveries) {
  EXPECT_EQ(IdsAfterAcksLost(/*resend_acked=*/false),
            (std::vector<std::string>{"e-1", "e-2", "e-3"}));
}

}  // namespace
}  // namespace switchboard::testing
