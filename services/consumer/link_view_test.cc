// The consumer's link view in-process: a real bridge (memory transport), a
// real consumer service, real gRPC clients. The watches are in
// link_watch_test.cc.
#include "services/consumer/link_view.h"

#include <grpcpp/grpcpp.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "services/common/link_event.h"
#include "services/consumer/consumer_fixture.h"
#include "services/consumer/consumer_service.h"
#include "services/consumer/link_view_fixture.h"
#include "switchboard/v1/consumer.grpc.pb.h"
#include "tests/testing/delivery_stream.h"

namespace switchboard::consumer {
namespace {

using switchboard::v1::Event;
using switchboard::v1::LinkState;
using switchboard::v1::SubscribeRequest;
using switchboard::v1::SubscribeResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class LinkViewTest : public LinkViewFixture {};

// ------------------------------------------------------------- the view

TEST_F(LinkViewTest, ShowsTheNewestStatusOfEachLink) {
  const Event a1 = LinkEvent("s1:1-s2:1", kDown, 1);
  const Event b1 = LinkEvent("s3:1-s4:1", kUp, 2);
  const Event a2 = LinkEvent("s1:1-s2:1", kUp, 3);
  PublishLink(a1);
  PublishLink(b1);
  ASSERT_TRUE(EventuallyShows(consumer_, a1));
  PublishLink(a2);
  ASSERT_TRUE(EventuallyShows(consumer_, a2));
  ASSERT_TRUE(EventuallyShows(consumer_, b1));

  LinkState state;
  ASSERT_TRUE(GetLinkStatus(consumer_, "s1:1-s2:1", &state).ok());
  EXPECT_EQ(state.link_id(), "s1:1-s2:1");
  EXPECT_EQ(state.state(), kUp);
  EXPECT_EQ(state.time().seconds(), 1700000003);
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(state.event(), a2))
      << state.event().ShortDebugString();

  switchboard::v1::ListLinkStatusResponse list;
  ASSERT_TRUE(ListLinkStatus(consumer_, &list).ok());
  ASSERT_EQ(list.links_size(), 2) << list.ShortDebugString();
  EXPECT_EQ(list.links(0).link_id(), "s1:1-s2:1");
  EXPECT_EQ(list.links(0).event().id(), a2.id());
  EXPECT_EQ(list.links(1).link_id(), "s3:1-s4:1");
  EXPECT_EQ(list.links(1).state(), kUp);

  // Each link's newest status is held unacked in its queue; the older one
  // was acked.
  EXPECT_TRUE(EventuallyBridgeStats(QueueOf("s1:1-s2:1"), 0, 1));
  EXPECT_TRUE(EventuallyBridgeStats(QueueOf("s3:1-s4:1"), 0, 1));
  EXPECT_EQ(consumer_.service->link_view()->counters().updates, 3u);
}

TEST_F(LinkViewTest, FlapsEndOnTheLastStatus) {
  const std::vector<std::string> links = {"l0", "l1", "l2"};
  LinkWatch watch(consumer_.stub.get(), {});
  std::map<std::string, Event> last;
  uint64_t sequence = 0;
  // Down, up, down... one event at a time, interleaved across links, as
  // fast as they can be published...
  for (int i = 0; i < 300; ++i) {
    const std::string& link = links[i % links.size()];
    Event event = LinkEvent(link, (i / 3) % 2 ? kUp : kDown, ++sequence);
    PublishLink(event);
    last[link] = event;
  }
  // ...and in batches of 10 of one link.
  for (int round = 0; round < 10; ++round) {
    for (const std::string& link : links) {
      std::vector<Event> batch;
      for (int j = 0; j < 10; ++j) {
        batch.push_back(LinkEvent(link, j % 2 ? kUp : kDown, ++sequence));
      }
      last[link] = batch.back();
      PublishLink(batch);
    }
  }

  for (const std::string& link : links) {
    EXPECT_TRUE(EventuallyShows(consumer_, last[link]));
    LinkState state;
    ASSERT_TRUE(GetLinkStatus(consumer_, link, &state).ok());
    EXPECT_EQ(state.state(), ReadLinkReport(last[link])->state);
    // Exactly one delivery held per link: nothing leaked unacked.
    EXPECT_TRUE(EventuallyBridgeStats(QueueOf(link), 0, 1));
  }
  // The watcher's last word on each link is the last status too.
  std::map<std::string, std::string> watched;
  EXPECT_TRUE(Eventually(
      [&] {
        watched.clear();
        for (const auto& r : watch.responses()) {
          watched[r.link().link_id()] = r.link().event().id();
        }
        for (const std::string& link : links) {
          if (watched[link] != last[link].id()) return false;
        }
        return true;
      },
      [&] {
        std::string seen;
        for (const auto& [link, id] : watched) {
          absl::StrAppend(&seen, link, "=", id, " ");
        }
        return "the watcher last saw " + seen;
      }));
}

TEST_F(LinkViewTest, AnOlderStatusDeliveredAfterANewerOneIsIgnored) {
  const Event newer = LinkEvent("l", kUp, 5);
  PublishLink(newer);
  ASSERT_TRUE(EventuallyShows(consumer_, newer));
  LinkWatch watch(consumer_.stub.get(), {"l"});
  ASSERT_EQ(watch.Await(1).size(), 1u);

  PublishLink(LinkEvent("l", kDown, 3));
  ASSERT_TRUE(EventuallyCounters(
      [](const LinkViewCounters& c) { return c.stale == 1; }));
  // Also across sources: an earlier time loses.
  Event other_source = LinkEvent("l", kDown, 9, "onos");
  other_source.mutable_time()->set_seconds(1700000001);
  PublishLink(other_source);
  ASSERT_TRUE(EventuallyCounters(
      [](const LinkViewCounters& c) { return c.stale == 2; }));

  LinkState state;
  ASSERT_TRUE(GetLinkStatus(consumer_, "l", &state).ok());
  EXPECT_EQ(state.event().id(), newer.id());
  EXPECT_EQ(state.state(), kUp);
  // The discarded ones were acked; the newer one is still held.
  EXPECT_TRUE(EventuallyBridgeStats(QueueOf("l"), 0, 1));

  // Watchers heard nothing of them: the next thing they get is the next
  // newer status.
  const Event next = LinkEvent("l", kDown, 6);
  PublishLink(next);
  EXPECT_THAT(Describe(watch.Await(2)),
              ElementsAre("l=UP@l#5/initial", "l=DOWN@l#6"));
}

TEST_F(LinkViewTest, AnEventThatReportsNoLinkStatusIsDropped) {
  Event junk;
  junk.set_id("junk-1");
  junk.set_source("kytos");
  junk.set_type("kytos/topology.switch_up");
  Publish("link.junk", {junk}, /*last_value=*/true);
  EXPECT_TRUE(EventuallyCounters(
      [](const LinkViewCounters& c) { return c.invalid == 1; }));
  EXPECT_TRUE(EventuallyBridgeStats("link.junk", 0, 0));
  switchboard::v1::ListLinkStatusResponse list;
  ASSERT_TRUE(ListLinkStatus(consumer_, &list).ok());
  EXPECT_EQ(list.links_size(), 0);
}

TEST_F(LinkViewTest, OrdinaryQueuesWithThePrefixAreLeftAlone) {
  // Not a last-value queue: not the broadcaster's, so not the view's.
  Publish("link.ordinary", {LinkEvent("x", kUp, 1)}, /*last_value=*/false);
  const Event real = LinkEvent("y", kUp, 1);
  PublishLink(real);
  ASSERT_TRUE(EventuallyShows(consumer_, real));
  EXPECT_TRUE(EventuallyBridgeStats("link.ordinary", 1, 0));
  LinkState state;
  EXPECT_EQ(GetLinkStatus(consumer_, "x", &state).error_code(),
            grpc::NOT_FOUND);
}

TEST_F(LinkViewTest, LinkQueuesThatAppearLaterAreDiscovered) {
  LinkState state;
  grpc::Status status = GetLinkStatus(consumer_, "a", &state);
  EXPECT_EQ(status.error_code(), grpc::NOT_FOUND) << status.error_message();

  const Event a1 = LinkEvent("a", kDown, 1);
  PublishLink(a1);
  ASSERT_TRUE(EventuallyShows(consumer_, a1));
  LinkWatch watch(consumer_.stub.get(), {});
  ASSERT_EQ(watch.Await(1).size(), 1u);
  EXPECT_EQ(consumer_.service->link_view()->counters().streams_opened, 1u);

  const Event b1 = LinkEvent("b", kUp, 2);
  PublishLink(b1);
  ASSERT_TRUE(EventuallyShows(consumer_, b1));
  EXPECT_EQ(consumer_.service->link_view()->counters().streams_opened, 2u);

  // On the new stream, a's status came back and is held again, unchanged:
  // no update, no notification.
  EXPECT_TRUE(EventuallyBridgeStats(QueueOf("a"), 0, 1));
  EXPECT_TRUE(EventuallyBridgeStats(QueueOf("b"), 0, 1));
  const Event a2 = LinkEvent("a", kUp, 3);
  PublishLink(a2);
  ASSERT_TRUE(EventuallyShows(consumer_, a2));
  EXPECT_THAT(Describe(watch.Await(3)),
              ElementsAre("a=DOWN@a#1/initial", "b=UP@b#2", "a=UP@a#3"));
  EXPECT_EQ(consumer_.service->link_view()->counters().updates, 3u);
  EXPECT_TRUE(EventuallyBridgeStats(QueueOf("a"), 0, 1));
}

TEST_F(LinkViewTest, ARestartedConsumerRebuildsTheView) {
  const std::vector<Event> events = {
      LinkEvent("a", kDown, 1), LinkEvent("b", kUp, 2),
      LinkEvent("a", kUp, 3),   LinkEvent("c", kDown, 4),
      LinkEvent("c", kUp, 5),   LinkEvent("c", kDown, 6)};
  for (const Event& e : events) {
    PublishLink(e);
    ASSERT_TRUE(EventuallyShows(consumer_, e));
  }
  switchboard::v1::ListLinkStatusResponse before;
  ASSERT_TRUE(ListLinkStatus(consumer_, &before).ok());
  ASSERT_EQ(before.links_size(), 3);

  StopConsumer(&consumer_);
  // The held statuses are back in their queues...
  for (const char* link : {"a", "b", "c"}) {
    EXPECT_TRUE(EventuallyBridgeStats(QueueOf(link), 1, 0));
  }

  // ...and a new consumer shows them again.
  Consumer next = StartConsumer(BaseYaml());
  ASSERT_NE(next.stub, nullptr);
  for (const auto& link : before.links()) {
    EXPECT_TRUE(EventuallyShows(next, link.event()));
  }
  switchboard::v1::ListLinkStatusResponse after;
  ASSERT_TRUE(ListLinkStatus(next, &after).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(before, after))
      << "before: " << before.ShortDebugString()
      << "\nafter: " << after.ShortDebugString();
  EXPECT_EQ(after.links(0).event().id(), "a#3");
  EXPECT_EQ(after.links(1).event().id(), "b#2");
  EXPECT_EQ(after.links(2).event().id(), "c#6");
}

// ---------------------------------------------------------------- the RPCs

TEST_F(LinkViewTest, GetLinkStatusErrors) {
  LinkState state;
  grpc::Status status = GetLinkStatus(consumer_, "nope", &state);
  EXPECT_EQ(status.error_code(), grpc::NOT_FOUND) << status.error_message();
  EXPECT_EQ(status.error_message(), "no status seen for link 'nope'");

  status = GetLinkStatus(consumer_, "", &state);
  EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT)
      << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("link_id"));
}

TEST_F(LinkViewTest, SubscribeToALinkQueueIsRefused) {
  PublishLink(LinkEvent("a", kUp, 1));
  testing::DeliveryStream<SubscribeRequest, SubscribeResponse> stream(
      [this](grpc::ClientContext* c) { return consumer_.stub->Subscribe(c); },
      kWait);
  SubscribeRequest open;
  open.mutable_open()->add_queues("verbose");
  open.mutable_open()->add_queues("link.a");
  open.mutable_open()->set_credit(10);
  ASSERT_TRUE(stream.Write(open));
  grpc::Status status = stream.Finish();
  EXPECT_EQ(status.error_code(), grpc::FAILED_PRECONDITION)
      << status.error_message();
  EXPECT_EQ(status.error_message(),
            "queue 'link.a' is a link-status queue, read by the consumer's "
            "link view: use GetLinkStatus/WatchLinkStatus");
  EXPECT_EQ(stream.delivery_count(), 0u);
}

TEST_F(LinkViewTest, WithTheViewOffLinkQueuesAreOrdinaryQueues) {
  Consumer off = StartConsumer(ConsumerFixture::BaseYaml() +
                               "links:\n  queue_prefix: \"\"\n");
  ASSERT_NE(off.stub, nullptr);
  EXPECT_EQ(off.service->link_view(), nullptr);
  // The fixture's consumer must not take the link's delivery first.
  StopConsumer(&consumer_);
  const Event a1 = LinkEvent("a", kUp, 1);
  PublishLink(a1);

  LinkState state;
  grpc::Status status = GetLinkStatus(off, "a", &state);
  EXPECT_EQ(status.error_code(), grpc::FAILED_PRECONDITION)
      << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("links.queue_prefix"));
  switchboard::v1::ListLinkStatusResponse list;
  EXPECT_EQ(ListLinkStatus(off, &list).error_code(), grpc::FAILED_PRECONDITION);
  LinkWatch watch(off.stub.get(), {});
  EXPECT_EQ(watch.Finish().error_code(), grpc::FAILED_PRECONDITION);

  testing::DeliveryStream<SubscribeRequest, SubscribeResponse> stream(
      [&off](grpc::ClientContext* c) { return off.stub->Subscribe(c); }, kWait);
  SubscribeRequest open;
  open.mutable_open()->add_queues(QueueOf("a"));
  open.mutable_open()->set_credit(10);
  ASSERT_TRUE(stream.Write(open));
  auto deliveries = stream.AwaitDeliveries(1);
  ASSERT_EQ(deliveries.size(), 1u);
  EXPECT_EQ(deliveries[0].event().id(), a1.id());
}

}  // namespace
}  // namespace switchboard::consumer
