// Ack deadlines, their extension and delayed nacks, through a real gRPC
// client, on a ManualClock: the test moves time, nothing sleeps.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "services/consumer/consumer_fixture.h"
#include "services/consumer/timer_worker.h"
#include "switchboard/v1/consumer.grpc.pb.h"
#include "tests/testing/delivery_stream.h"

namespace switchboard::consumer {
namespace {

using switchboard::v1::Event;
using switchboard::v1::EventDelivery;
using switchboard::v1::SubscribeRequest;
using switchboard::v1::SubscribeResponse;

// A Subscribe stream of one queue that also extends and nacks later.
class DeadlineStream : public SubscribeStream {
 public:
  using SubscribeStream::SubscribeStream;

  bool Open(const std::string& queue, uint32_t credit) {
    return SubscribeStream::Open({queue}, credit);
  }
  bool Extend(const std::vector<uint64_t>& tags) {
    SubscribeRequest request;
    for (uint64_t tag : tags) request.mutable_extend()->add_tags(tag);
    return Write(request);
  }
  bool NackLater(uint64_t tag, absl::Duration delay) {
    SubscribeRequest request;
    request.mutable_nack()->add_tags(tag);
    request.mutable_nack()->set_requeue(true);
    request.mutable_nack()->mutable_delay()->set_seconds(
        absl::ToInt64Seconds(delay));
    return Write(request);
  }
  // Waits for the next response carrying stale tags, after `seen`
  // responses; returns its stale tags.
  std::vector<uint64_t> NextStale(size_t* seen) {
    for (;;) {
      std::vector<SubscribeResponse> got = AwaitResponses(*seen + 1);
      if (got.size() <= *seen) return {};
      const SubscribeResponse& r = got[(*seen)++];
      if (r.stale_tags_size() > 0) {
        return {r.stale_tags().begin(), r.stale_tags().end()};
      }
    }
  }
};

Event MakeEvent(int i) {
  Event event;
  event.set_id("ev-" + std::to_string(i));
  event.set_source("app");
  event.set_type("t");
  return event;
}

class AckDeadlineTest : public ConsumerFixture {
 protected:
  void SetUp() override {
    ConsumerFixture::SetUp();
    clocked_ =
        StartConsumer(BaseYaml() + "ack_deadline: 30s\n", clock_.AsClock());
    ASSERT_NE(clocked_.stub, nullptr);
  }

  // Moves the consumer's clock and waits until its timers have run.
  void Advance(absl::Duration d) {
    clock_.Advance(d);
    clocked_.service->timers().Sync();
  }

  ManualClock clock_;
  Consumer clocked_;
};

TEST_F(AckDeadlineTest, HeldPastTheDeadlineComesAgainAndTheLateAckIsStale) {
  Publish("app.a", {MakeEvent(0)});
  DeadlineStream stream(clocked_.stub.get());
  ASSERT_TRUE(stream.Open("app.a", 10));
  std::vector<EventDelivery> got = stream.AwaitDeliveries(1);
  ASSERT_EQ(got.size(), 1u);
  const uint64_t first = got[0].tag();

  Advance(absl::Seconds(29));
  Advance(absl::Seconds(1));

  got = stream.AwaitDeliveries(2);
  ASSERT_EQ(got.size(), 2u) << "not redelivered after its ack deadline";
  EXPECT_EQ(got[1].event().id(), "ev-0");
  EXPECT_TRUE(got[1].redelivered());
  EXPECT_EQ(got[1].delivery_count(), 2u);
  EXPECT_NE(got[1].tag(), first);

  // The late ack of the old tag settles nothing, and says so.
  size_t seen = 0;
  ASSERT_TRUE(stream.Ack({first}));
  EXPECT_EQ(stream.NextStale(&seen), std::vector<uint64_t>{first});
  EXPECT_TRUE(EventuallyBridgeStats("app.a", 0, 1));
  ASSERT_TRUE(stream.Ack({got[1].tag()}));
  EXPECT_TRUE(EventuallyBridgeStats("app.a", 0, 0));
  SubscribeRequest close;
  close.mutable_close();
  ASSERT_TRUE(stream.Write(close));
  EXPECT_TRUE(stream.Finish().ok()) << "a stale ack must not end the stream";
}

TEST_F(AckDeadlineTest, ExtendedDeliveryStaysAndDelayedNackComesBackLater) {
  Publish("app.b", {MakeEvent(0), MakeEvent(1)});
  DeadlineStream stream(clocked_.stub.get());
  ASSERT_TRUE(stream.Open("app.b", 10));
  std::vector<EventDelivery> got = stream.AwaitDeliveries(2);
  ASSERT_EQ(got.size(), 2u);
  const uint64_t working = got[0].tag();
  const uint64_t retry = got[1].tag();

  Advance(absl::Seconds(20));
  // `retry` nacked for an hour; extending it too makes the answer (it is
  // stale now) tell the test that both requests were applied.
  ASSERT_TRUE(stream.NackLater(retry, absl::Hours(1)));
  ASSERT_TRUE(stream.Extend({working, retry}));
  size_t seen = 0;
  ASSERT_EQ(stream.NextStale(&seen), std::vector<uint64_t>{retry});

  // Past the first deadline (30s), within the extended one (20s + 30s).
  Advance(absl::Seconds(15));
  ASSERT_TRUE(stream.Ack({working, retry}));
  EXPECT_EQ(stream.NextStale(&seen), std::vector<uint64_t>{retry})
      << "the extended delivery expired";
  // Acked, and the delayed one still holds its credit slot, unacked.
  EXPECT_TRUE(EventuallyBridgeStats("app.b", 0, 1));
  EXPECT_EQ(stream.delivery_count(), 2u);

  Advance(absl::Hours(1));
  got = stream.AwaitDeliveries(3);
  ASSERT_EQ(got.size(), 3u) << "the delayed nack never gave it back";
  EXPECT_EQ(got[2].event().id(), "ev-1");
  EXPECT_TRUE(got[2].redelivered());
  EXPECT_EQ(got[2].delivery_count(), 2u);
}

// grpcurl -d sends `open` and half-closes: such an app can never ack, so
// its first expiry ends the stream (OK) and gives everything back once,
// rather than delivering the same events to it again until they are
// dead-lettered.
TEST_F(AckDeadlineTest, HalfClosedSubscriptionEndsAtItsFirstExpiry) {
  Publish("app.d", {});
  DeadlineStream stream(clocked_.stub.get());
  ASSERT_TRUE(stream.Open("app.d", 10));
  // Half-closed before the event is even published: the consumer reads the
  // half-close right after `open`, long before the delivery has made its
  // way through the bridge, so it knows when the clock moves. (Half-closing
  // after the delivery raced with Advance: an expiry before the consumer
  // read the half-close delivered the event again.)
  ASSERT_TRUE(stream.WritesDone());
  Publish("app.d", {MakeEvent(0)});
  ASSERT_EQ(stream.AwaitDeliveries(1).size(), 1u);
  ASSERT_TRUE(EventuallyBridgeStats("app.d", 0, 1));

  Advance(absl::Seconds(30));

  EXPECT_TRUE(stream.Finish().ok());
  EXPECT_EQ(stream.delivery_count(), 1u) << "delivered again to a stream "
                                            "that cannot ack";
  EXPECT_TRUE(EventuallyBridgeStats("app.d", 1, 0));
}

TEST_F(AckDeadlineTest, BadDurationsAreRefusedNamingTheField) {
  {
    DeadlineStream stream(clocked_.stub.get());
    SubscribeRequest open;
    open.mutable_open()->add_queues("verbose");
    open.mutable_open()->mutable_ack_deadline()->set_seconds(7200);
    ASSERT_TRUE(stream.Write(open));
    grpc::Status status = stream.Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find("open.ack_deadline"),
              std::string::npos)
        << status.error_message();
  }
  Publish("app.c", {MakeEvent(0)});
  DeadlineStream stream(clocked_.stub.get());
  ASSERT_TRUE(stream.Open("app.c", 10));
  ASSERT_EQ(stream.AwaitDeliveries(1).size(), 1u);
  SubscribeRequest nack;
  nack.mutable_nack()->add_tags(stream.AwaitDeliveries(1)[0].tag());
  nack.mutable_nack()->mutable_delay()->set_seconds(5);  // without requeue
  ASSERT_TRUE(stream.Write(nack));
  grpc::Status status = stream.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("nack.delay"), std::string::npos)
      << status.error_message();
}

}  // namespace
}  // namespace switchboard::consumer
