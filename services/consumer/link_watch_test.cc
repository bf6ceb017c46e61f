// WatchLinkStatus calls on the consumer's link view in-process (a real
// bridge, a real consumer service, real gRPC clients), and what a watch has
// yet to send.
#include "services/consumer/link_watch.h"

#include <grpcpp/grpcpp.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/consumer/consumer_fixture.h"
#include "services/consumer/link_view.h"
#include "services/consumer/link_view_fixture.h"

namespace switchboard::consumer {
namespace {

using switchboard::v1::Event;
using switchboard::v1::LinkState;
using switchboard::v1::WatchLinkStatusResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class LinkWatchTest : public LinkViewFixture {};

// ------------------------------------------------------------ the watches

TEST_F(LinkWatchTest, WatchSendsTheInitialStatusesThenChangesOfItsLinks) {
  const Event a1 = LinkEvent("a", kDown, 1);
  const Event b1 = LinkEvent("b", kUp, 2);
  const Event c1 = LinkEvent("c", kUp, 3);
  for (const Event& e : {a1, b1, c1}) PublishLink(e);
  for (const Event& e : {a1, b1, c1})
    ASSERT_TRUE(EventuallyShows(consumer_, e));

  LinkWatch watch(consumer_.stub.get(), {"b", "a", "never-seen"});
  EXPECT_THAT(Describe(watch.Await(2)),
              ElementsAre("a=DOWN@a#1/initial", "b=UP@b#2/initial"));

  // c is not watched: only a's change comes, then b's.
  PublishLink(LinkEvent("c", kDown, 4));
  PublishLink(LinkEvent("a", kUp, 5));
  ASSERT_TRUE(EventuallyShows(consumer_, LinkEvent("a", kUp, 5)));
  PublishLink(LinkEvent("b", kDown, 6));
  // A link first seen after the watch began, and named by it.
  PublishLink(LinkEvent("never-seen", kUp, 7));
  EXPECT_THAT(Describe(watch.Await(5)),
              ElementsAre("a=DOWN@a#1/initial", "b=UP@b#2/initial", "a=UP@a#5",
                          "b=DOWN@b#6", "never-seen=UP@never-seen#7"));
}

TEST_F(LinkWatchTest, WatchOfAllLinksIncludesNewLinks) {
  LinkWatch watch(consumer_.stub.get(), {});
  const Event a1 = LinkEvent("a", kDown, 1);
  PublishLink(a1);
  EXPECT_THAT(Describe(watch.Await(1)), ElementsAre("a=DOWN@a#1"));
}

TEST_F(LinkWatchTest, ASlowWatcherGetsTheNewestStatusNotEveryStep) {
  // Big events fill the call's flow-control window and socket buffers
  // quickly, so most changes happen while the watcher is not reading.
  const std::string padding(256 << 10, 'x');
  const Event first = LinkEvent("l", kDown, 1);
  PublishLink(first);
  ASSERT_TRUE(EventuallyShows(consumer_, first));
  LinkWatch watch(consumer_.stub.get(), {"l"}, /*read_now=*/false);
  ASSERT_TRUE(EventuallyCounters(
      [](const LinkViewCounters& c) { return c.watches == 1; }));

  constexpr int kChanges = 60;
  Event event;
  for (int i = 0; i < kChanges; ++i) {
    event = LinkEvent("l", i % 2 ? kDown : kUp, 2 + i);
    (*event.mutable_attributes())["padding"] = padding;
    PublishLink(event);
    // One at a time through the view, so each is a change it notifies.
    ASSERT_TRUE(EventuallyCounters(
        [i](const LinkViewCounters& c) { return c.updates == 2u + i; }));
  }

  watch.StartReading();
  std::vector<WatchLinkStatusResponse> got;
  EXPECT_TRUE(Eventually(
      [&] {
        got = watch.responses();
        return !got.empty() && got.back().link().event().id() == event.id();
      },
      [&] { return absl::StrCat(got.size(), " responses so far"); }));
  // The initial status plus fewer than every change, ending on the newest.
  EXPECT_LT(got.size(), 1u + kChanges);
  EXPECT_TRUE(got.front().initial());
  EXPECT_EQ(got.back().link().state(), kDown);
  EXPECT_FALSE(got.back().initial());
}

TEST_F(LinkWatchTest, ShutdownEndsWatchesAndCancelledWatchesGoAway) {
  Consumer& consumer = consumer_;
  LinkView* view = consumer.service->link_view();
  LinkWatch cancelled(consumer.stub.get(), {});
  LinkWatch open(consumer.stub.get(), {});
  ASSERT_TRUE(Eventually([&] { return view->counters().watches == 2; },
                         [] { return "two watches"; }));

  cancelled.Cancel();
  EXPECT_EQ(cancelled.Finish().error_code(), grpc::CANCELLED);
  EXPECT_TRUE(Eventually(
      [&] { return view->counters().watches == 1; },
      [&] { return absl::StrCat(view->counters().watches, " watches left"); }));
  // The view carries on for the others.
  const Event a1 = LinkEvent("a", kUp, 1);
  PublishLink(a1);
  EXPECT_THAT(Describe(open.Await(1)), ElementsAre("a=UP@a#1"));

  // Shutdown ends the watch at once, not after the grace period.
  const absl::Time start = absl::Now();
  consumer.server->Shutdown(absl::Seconds(20));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  grpc::Status status = open.Finish();
  EXPECT_EQ(status.error_code(), grpc::UNAVAILABLE) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("shutting down"));
  // And the held status went back to its queue.
  EXPECT_TRUE(EventuallyBridgeStats(QueueOf("a"), 1, 0));
}

// ------------------------------------------------------ PendingLinkStates

TEST(PendingLinkStatesTest, KeepsTheNewestStatePerLinkInFirstPendingOrder) {
  PendingLinkStates pending;
  auto state = [](const std::string& link, const std::string& id) {
    LinkState s;
    s.set_link_id(link);
    s.mutable_event()->set_id(id);
    return s;
  };
  pending.Add(state("b", "b1"), /*initial=*/true);
  pending.Add(state("a", "a1"), /*initial=*/true);
  for (int i = 2; i <= 1000; ++i) {
    pending.Add(state("a", absl::StrCat("a", i)), /*initial=*/false);
    pending.Add(state("c", absl::StrCat("c", i)), /*initial=*/false);
  }
  EXPECT_EQ(pending.size(), 3u);

  std::vector<WatchLinkStatusResponse> out;
  WatchLinkStatusResponse r;
  while (pending.Pop(&r)) out.push_back(r);
  // b and a were pending as initial: they stay initial, with a's newest.
  EXPECT_THAT(Describe(out), ElementsAre("b=STATE_UNSPECIFIED@b1/initial",
                                         "a=STATE_UNSPECIFIED@a1000/initial",
                                         "c=STATE_UNSPECIFIED@c1000"));
  EXPECT_TRUE(pending.empty());
  // Once sent, a link's next change is pending anew, at the back.
  pending.Add(state("c", "c1001"), /*initial=*/false);
  pending.Add(state("a", "a1001"), /*initial=*/false);
  ASSERT_TRUE(pending.Pop(&r));
  EXPECT_EQ(r.link().event().id(), "c1001");
  EXPECT_FALSE(r.initial());
}

}  // namespace
}  // namespace switchboard::consumer
