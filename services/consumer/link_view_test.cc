// The consumer's link view in-process: a real bridge (memory transport), a
// real consumer service, real gRPC clients.
#include "services/consumer/link_view.h"

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "services/common/link_event.h"
#include "services/consumer/consumer_fixture.h"
#include "services/consumer/consumer_service.h"
#include "switchboard/v1/consumer.grpc.pb.h"
#include "tests/testing/delivery_stream.h"

namespace switchboard::consumer {
namespace {

using switchboard::v1::Event;
using switchboard::v1::LinkState;
using switchboard::v1::LinkStatus;
using switchboard::v1::SubscribeRequest;
using switchboard::v1::SubscribeResponse;
using switchboard::v1::WatchLinkStatusRequest;
using switchboard::v1::WatchLinkStatusResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr LinkStatus::State kUp = LinkStatus::UP;
constexpr LinkStatus::State kDown = LinkStatus::DOWN;

// A status of `link` as the broadcaster routes it: stamped with the link
// attributes, numbered `sequence` in its source, id "<link>#<sequence>".
Event LinkEvent(const std::string& link, LinkStatus::State state,
                uint64_t sequence, const std::string& source = "kytos") {
  Event event;
  event.set_id(absl::StrCat(link, "#", sequence));
  event.set_source(source);
  event.set_type(state == kUp ? "kytos/topology.link_up"
                              : "kytos/topology.link_down");
  event.set_sequence(sequence);
  event.set_subject(link);
  event.mutable_time()->set_seconds(1700000000 + sequence);
  StampLinkReport(LinkReport{link, state}, &event);
  return event;
}

std::string QueueOf(const std::string& link) {
  return LinkQueueName("link.", link);
}

// A WatchLinkStatus call, read in the background once StartReading is
// called (at once unless asked otherwise).
class LinkWatch {
 public:
  LinkWatch(switchboard::v1::Consumer::Stub* stub,
            const std::vector<std::string>& link_ids, bool read_now = true) {
    context_.set_deadline(Deadline());
    WatchLinkStatusRequest request;
    for (const auto& id : link_ids) request.add_link_ids(id);
    reader_ = stub->WatchLinkStatus(&context_, request);
    if (read_now) StartReading();
  }

  ~LinkWatch() {
    context_.TryCancel();
    Finish();
  }

  void StartReading() {
    thread_ = std::thread([this] {
      WatchLinkStatusResponse response;
      while (reader_->Read(&response)) {
        absl::MutexLock lock(&mu_);
        responses_.push_back(response);
      }
      absl::MutexLock lock(&mu_);
      done_ = true;
    });
  }

  // Waits (bounded) until `n` responses have come or the call ended.
  std::vector<WatchLinkStatusResponse> Await(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return responses_.size() >= n || done_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
    return responses_;
  }

  std::vector<WatchLinkStatusResponse> responses() {
    absl::MutexLock lock(&mu_);
    return responses_;
  }

  void Cancel() { context_.TryCancel(); }

  // Waits for the end of the call and returns its status.
  grpc::Status Finish() {
    if (finished_) return status_;
    if (!thread_.joinable()) StartReading();
    thread_.join();
    status_ = reader_->Finish();
    finished_ = true;
    return status_;
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<WatchLinkStatusResponse>> reader_;
  std::thread thread_;
  absl::Mutex mu_;
  std::vector<WatchLinkStatusResponse> responses_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ = false;
  grpc::Status status_;
};

// "<link>=<UP|DOWN>@<event id>/<initial>" per response, to compare lists.
std::vector<std::string> Describe(
    const std::vector<WatchLinkStatusResponse>& responses) {
  std::vector<std::string> out;
  for (const auto& r : responses) {
    out.push_back(absl::StrCat(
        r.link().link_id(), "=", LinkStatus::State_Name(r.link().state()), "@",
        r.link().event().id(), r.initial() ? "/initial" : ""));
  }
  return out;
}

class LinkViewTest : public ConsumerFixture {
 protected:
  // Discovery at a test's pace.
  std::string BaseYaml() const override {
    return ConsumerFixture::BaseYaml() + "links:\n  discovery_interval: 20ms\n";
  }

  void PublishLink(const std::vector<Event>& events) {
    ASSERT_FALSE(events.empty());
    Publish(QueueOf(events[0].subject()), events, /*last_value=*/true);
  }
  void PublishLink(const Event& event) { PublishLink(std::vector{event}); }

  grpc::Status GetLinkStatus(const Consumer& consumer, const std::string& link,
                             LinkState* state) {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    switchboard::v1::GetLinkStatusRequest request;
    request.set_link_id(link);
    return consumer.stub->GetLinkStatus(&context, request, state);
  }

  grpc::Status ListLinkStatus(const Consumer& consumer,
                              switchboard::v1::ListLinkStatusResponse* out) {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    return consumer.stub->ListLinkStatus(
        &context, switchboard::v1::ListLinkStatusRequest(), out);
  }

  // Waits until `consumer` shows `event` as its link's status.
  ::testing::AssertionResult EventuallyShows(const Consumer& consumer,
                                             const Event& event) {
    LinkState state;
    grpc::Status status;
    return Eventually(
        [&] {
          state.Clear();
          status = GetLinkStatus(consumer, event.subject(), &state);
          return status.ok() && state.event().id() == event.id();
        },
        [&] {
          return absl::StrCat(
              "link ", event.subject(), ": wanted event ", event.id(),
              ", last saw ",
              status.ok() ? state.ShortDebugString() : status.error_message());
        });
  }

  ::testing::AssertionResult EventuallyCounters(
      const std::function<bool(const LinkViewCounters&)>& done) {
    LinkViewCounters c;
    return Eventually(
        [&] {
          c = consumer_.service->link_view()->counters();
          return done(c);
        },
        [&] {
          return absl::StrCat("counters: streams_opened ", c.streams_opened,
                              " updates ", c.updates, " stale ", c.stale,
                              " invalid ", c.invalid, " watches ", c.watches);
        });
  }

  // Shuts `consumer` down the way its process would.
  static void StopConsumer(Consumer* consumer) {
    consumer->stub.reset();
    consumer->server.reset();
    consumer->service.reset();
  }
};

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

TEST_F(LinkViewTest, WatchSendsTheInitialStatusesThenChangesOfItsLinks) {
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

TEST_F(LinkViewTest, WatchOfAllLinksIncludesNewLinks) {
  LinkWatch watch(consumer_.stub.get(), {});
  const Event a1 = LinkEvent("a", kDown, 1);
  PublishLink(a1);
  EXPECT_THAT(Describe(watch.Await(1)), ElementsAre("a=DOWN@a#1"));
}

TEST_F(LinkViewTest, ASlowWatcherGetsTheNewestStatusNotEveryStep) {
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

TEST_F(LinkViewTest, ShutdownEndsWatchesAndCancelledWatchesGoAway) {
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

// ----------------------------------------------------------------- config

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
  struct Case {
    std::string yaml;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
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
