// Hardening scenarios replayed through the three real binaries, on the
// memory transport and on a real rabbitmq-server: an unread queue that
// fills up, and poison events, must stop nothing else.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/v1/bridge.grpc.pb.h"
#include "tests/testing/cluster.h"
#include "tests/testing/rabbitmq_environment.h"

namespace switchboard::testing {
namespace {

using switchboard::v1::Event;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class QueueOverflowTest : public ::testing::TestWithParam<std::string> {
 protected:
  // Every test gets its own queue names, so tests sharing the broker never
  // see each other's queues. Queues hold at most 1000 events: on memory
  // through the transport's max_queue_depth (the reproduced setup, with
  // the default queue limits), on rabbitmq through queue_limits.
  std::unique_ptr<Cluster> Start(const std::string& tag) {
    tag_ = tag;
    Cluster::Options options;
    if (GetParam() == "rabbitmq") {
      options.bridge_yaml = SharedRabbitMqBridgeYaml(tag);
      options.broadcaster_yaml +=
          "queue_limits:\n  default: {max_length: 1000}\n";
    } else {
      options.bridge_yaml +=
          "transport:\n  driver: memory\n  memory:\n    max_queue_depth: "
          "1000\n";
    }
    options.broadcaster_yaml +=
        absl::StrCat("routing:\n  verbose_queue: ", tag, ".verbose\n",
                     "  app_queue_prefix: ", tag, ".app.\n");
    auto cluster = Cluster::Start(options);
    EXPECT_TRUE(cluster.ok()) << cluster.status();
    return cluster.ok() ? *std::move(cluster) : nullptr;
  }

  std::string Queue(const std::string& name) const {
    return absl::StrCat(tag_, ".", name);
  }

  // The queue as ListQueues shows it (name empty when it is not listed).
  switchboard::v1::QueueInfo Info(Cluster& cluster, const std::string& queue) {
    auto list = ListQueues(cluster.consumer_address());
    EXPECT_TRUE(list.ok()) << list.status();
    if (list.ok()) {
      for (const auto& q : list->queues()) {
        if (q.name() == queue) return q;
      }
    }
    return {};
  }

  std::string tag_;
};

// Reproduced: an app tailing app.x received 910 of 3,010 events; then the
// unread verbose queue reached its limit, every batch was refused whole and
// retried every 100 ms, and no app got anything more.
TEST_P(QueueOverflowTest, AnUnreadQueueNeverStopsTheOthers) {
  auto cluster = Start(absl::StrCat("unread", GetParam()));
  ASSERT_NE(cluster, nullptr);
  const std::string app = Queue("app.x");
  const std::string verbose = Queue("verbose");
  // The app's queue exists once the first event went through it.
  auto first = Publish(cluster->broadcaster_address(), MakeEvents("x", "t", 1));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(cluster->AwaitDepth(app, 1));
  auto subscriber =
      Subscriber::Open(cluster->consumer_address(), {app}, 100, true);
  ASSERT_TRUE(subscriber.ok()) << subscriber.status();

  // The app keeps up (each batch of 100 is read before the next is sent),
  // so only the unread queue ever fills.
  constexpr int kEvents = 3010;
  std::vector<switchboard::v1::EventDelivery> got;
  for (int sent = 1; sent < kEvents;) {
    const int n = std::min(100, kEvents - sent);
    auto answers =
        Publish(cluster->broadcaster_address(), MakeEvents("x", "t", n), n);
    ASSERT_TRUE(answers.ok()) << answers.status();
    ASSERT_EQ((*answers)[0].rejections_size(), 0);
    sent += n;
    got = (*subscriber)->WaitFor(sent);
    ASSERT_EQ(got.size(), static_cast<size_t>(sent))
        << "the app stopped receiving; broadcaster log:\n"
        << cluster->Log("broadcaster");
  }
  ExpectExactlyOnceInSourceOrder(got, {{"x", kEvents}});

  // The unread queue kept its newest 1000 and dropped the rest.
  ASSERT_TRUE(cluster->AwaitDepth(verbose, 1000));
  const auto info = Info(*cluster, verbose);
  if (GetParam() == "memory") {
    EXPECT_EQ(info.dropped(), static_cast<uint64_t>(kEvents - 1000));
  }
  // The app can read an event before the broker's confirm of its batch
  // reaches the broadcaster (on rabbitmq the bridge answers after the
  // confirm), so the last batches may still count as buffered for a moment.
  absl::StatusOr<switchboard::v1::BroadcasterStats> stats;
  ASSERT_TRUE(Eventually([&] {
    stats = GetBroadcasterStats(cluster->broadcaster_address());
    return stats.ok() && stats->buffered() == 0;
  })) << stats.status();
  EXPECT_EQ(stats->forwarded(), static_cast<uint64_t>(kEvents));
  EXPECT_EQ(stats->queue_refused(), 0u);
}

// Reproduced on rabbitmq: an event with a 300-byte id broke the AMQP
// connection; the app received only the first event of its batch, the
// broadcaster buffered the rest forever and ListQueues timed out. A type of
// 256 characters did the same. Now each is refused by name, and the events
// around them flow.
TEST_P(QueueOverflowTest, PoisonEventsAreRefusedAndTheRestFlows) {
  auto cluster = Start(absl::StrCat("poison", GetParam()));
  ASSERT_NE(cluster, nullptr);
  std::vector<Event> batch = MakeEvents("p", "t", 5);
  batch[1].set_id(std::string(300, 'i'));
  std::vector<Event> second = MakeEvents("p", "t", 4);
  second[0].set_type(std::string(256, 't'));
  second[1].set_id(std::string("a\nb\0c", 5));
  second[2].set_source("y/../..");
  for (Event& e : second) batch.push_back(std::move(e));
  auto answers = Publish(cluster->broadcaster_address(), batch, 100);
  ASSERT_TRUE(answers.ok()) << answers.status();
  ASSERT_EQ(answers->size(), 1u);
  const auto& answer = (*answers)[0];
  EXPECT_EQ(answer.accepted(), 5u);
  ASSERT_EQ(answer.rejections_size(), 4);
  const std::vector<std::pair<int, std::string>> expected = {
      {1, "events[1]: id is 300 characters"},
      {5, "events[5]: type is 256 characters"},
      {6, "events[6]: id has a character outside"},
      {7, "events[7]: source 'y/../..'"}};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(answer.rejections(i).index(), expected[i].first);
    EXPECT_EQ(answer.rejections(i).code(), grpc::INVALID_ARGUMENT);
    EXPECT_THAT(answer.rejections(i).reason(), StartsWith(expected[i].second));
  }
  // The accepted five reach the app queue and the next batch follows.
  const std::string app = Queue("app.p");
  ASSERT_TRUE(cluster->AwaitDepth(app, 5));
  ASSERT_TRUE(
      Publish(cluster->broadcaster_address(), MakeEvents("p", "t", 3)).ok());
  ASSERT_TRUE(cluster->AwaitDepth(app, 8));
  auto stats = GetBroadcasterStats(cluster->broadcaster_address());
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->rejected_invalid(), 4u);
  EXPECT_EQ(stats->forwarded(), 8u);
  EXPECT_EQ(stats->bridge_connects(), 1u);
}

// A client of the bridge itself (not the broadcaster) sends an event no
// transport metadata can carry: that event is refused on its own, the rest
// of its batch is stored, and the bridge's transport stays up.
TEST_P(QueueOverflowTest, TheBridgeRefusesAnUncarriableEventAlone) {
  auto cluster = Start(absl::StrCat("bridge", GetParam()));
  ASSERT_NE(cluster, nullptr);
  auto stub = switchboard::v1::Bridge::NewStub(grpc::CreateChannel(
      cluster->bridge_address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  auto stream = stub->Produce(&context);
  const std::string queue = Queue("direct");
  auto batch = [&](uint64_t id, const std::vector<std::string>& event_ids) {
    switchboard::v1::ProduceRequest request;
    request.set_batch_id(id);
    request.add_declare()->set_name(queue);
    for (const std::string& event_id : event_ids) {
      auto* e = request.add_events();
      e->set_id(event_id);
      e->set_event("payload");
      e->set_type("t");
      e->set_source("s");
      e->add_queues(queue);
    }
    return request;
  };
  ASSERT_TRUE(stream->Write(batch(1, {"a", std::string(300, 'x'), "b"})));
  ASSERT_TRUE(stream->Write(batch(2, {"c"})));
  switchboard::v1::ProduceResponse first, second;
  ASSERT_TRUE(stream->Read(&first));
  ASSERT_TRUE(stream->Read(&second));
  stream->WritesDone();
  EXPECT_EQ(first.code(), 0) << first.message();
  EXPECT_EQ(second.code(), 0) << second.message();
  if (GetParam() == "rabbitmq") {
    // AMQP's message_id holds 255 bytes; the memory transport has no such
    // limit and stores it.
    ASSERT_EQ(first.refused_size(), 1);
    EXPECT_EQ(first.refused(0).event_index(), 1u);
    EXPECT_EQ(first.refused(0).code(), grpc::INVALID_ARGUMENT);
    EXPECT_THAT(first.refused(0).message(), HasSubstr("id is 300 bytes"));
    ASSERT_TRUE(cluster->AwaitDepth(queue, 3));
  } else {
    EXPECT_EQ(first.refused_size(), 0);
    ASSERT_TRUE(cluster->AwaitDepth(queue, 4));
  }
  EXPECT_TRUE(stream->Finish().ok());
}

INSTANTIATE_TEST_SUITE_P(Transports, QueueOverflowTest,
                         ::testing::Values("memory", "rabbitmq"));

}  // namespace
}  // namespace switchboard::testing
