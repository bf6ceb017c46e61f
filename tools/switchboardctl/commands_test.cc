// The RPC side of switchboardctl against the real services, in process: an
// mq-bridge (memory transport), a broadcaster and a consumer service, each on
// its own loopback port, wired together as in a deployment. Only protocol
// violations that the real services can never commit are played by fakes
// (ProtocolViolationTest, at the end).
#include "tools/switchboardctl/commands.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/broadcaster/broadcaster_service.h"
#include "services/common/config.h"
#include "services/common/server.h"
#include "services/consumer/consumer_service.h"
#include "services/mq-bridge/bridge_service.h"
#include "tests/testing/eventually.h"

namespace switchboard::ctl {
namespace {

using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::SizeIs;
using ::testing::StartsWith;

// Upper bound for anything asynchronous (forwarding to the bridge, acks
// reaching it, unacked deliveries returning to their queue). Polls end as
// soon as the state shows up; this only bounds a broken run.
constexpr absl::Duration kWait = absl::Seconds(30);

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

ConfigNode Yaml(const std::string& text) {
  auto node = ConfigNode::Parse(text, "test.yaml");
  EXPECT_TRUE(node.ok()) << node.status();
  return node.ok() ? *std::move(node) : ConfigNode();
}

// One line of `publish --stdin` input with every field the broadcaster would
// otherwise fill in (id, time, sequence), so deliveries are predictable.
std::string EventLine(const std::string& id, const std::string& source,
                      int sequence) {
  return absl::StrCat(R"({"id":")", id, R"(","source":")", source,
                      R"(","type":"t","time":"2024-05-01T12:00:00Z",)",
                      R"("sequence":")", sequence, R"("})", "\n");
}

// What one published EventLine looks like as a `tail` output line.
std::string DeliveryLine(int tag, const std::string& queue,
                         const std::string& id, const std::string& source,
                         int sequence, int delivery_count) {
  return absl::StrCat(
      R"({"tag":")", tag, R"(","queue":")", queue, R"(","event":{"id":")", id,
      R"(","source":")", source,
      R"(","type":"t","time":"2024-05-01T12:00:00Z","sequence":")", sequence,
      R"("},)", delivery_count > 1 ? R"("redelivered":true,)" : "",
      R"("deliveryCount":)", delivery_count, "}");
}

// A queue's numbers as ListQueues reports them.
struct QueueState {
  uint64_t depth = 0;
  uint64_t unacked = 0;
  uint32_t subscribers = 0;
};

class CommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto bridge = bridge::BridgeService::Create(ConfigNode(), "127.0.0.1:0");
    ASSERT_TRUE(bridge.ok()) << bridge.status();
    bridge_ = *std::move(bridge);
    auto bridge_server = RunningServer::Start(bridge_.get());
    ASSERT_TRUE(bridge_server.ok()) << bridge_server.status();
    bridge_server_ = *std::move(bridge_server);
    const std::string upstream = absl::StrCat(
        "bridge:\n  address: ", bridge_server_->dial_address(), "\n");

    // At most 100 events per PublishRequest: a batch of another size than
    // publish was asked for shows up as rejections.
    auto broadcaster = broadcaster::BroadcasterService::Create(
        // The fixed event times of EventLine are years old.
        Yaml(upstream + "  backoff_initial: 10ms\nmax_batch_events: 100\n"
                        "max_time_behind: 87600h\n"),
        "127.0.0.1:0");
    ASSERT_TRUE(broadcaster.ok()) << broadcaster.status();
    broadcaster_ = *std::move(broadcaster);
    auto broadcaster_server = RunningServer::Start(broadcaster_.get());
    ASSERT_TRUE(broadcaster_server.ok()) << broadcaster_server.status();
    broadcaster_server_ = *std::move(broadcaster_server);

    auto consumer =
        consumer::ConsumerService::Create(Yaml(upstream), "127.0.0.1:0");
    ASSERT_TRUE(consumer.ok()) << consumer.status();
    consumer_ = *std::move(consumer);
    auto consumer_server = RunningServer::Start(consumer_.get());
    ASSERT_TRUE(consumer_server.ok()) << consumer_server.status();
    consumer_server_ = *std::move(consumer_server);

    auto broadcaster_channel =
        Connect(broadcaster_server_->dial_address(), absl::Seconds(5));
    ASSERT_TRUE(broadcaster_channel.ok()) << broadcaster_channel.status();
    broadcaster_stub_ = v1::Broadcaster::NewStub(*broadcaster_channel);
    auto consumer_channel =
        Connect(consumer_server_->dial_address(), absl::Seconds(5));
    ASSERT_TRUE(consumer_channel.ok()) << consumer_channel.status();
    consumer_stub_ = v1::Consumer::NewStub(*consumer_channel);

    // The broadcaster declares `verbose` once its stream to the bridge is up.
    ASSERT_TRUE(QueueReaches("verbose", {0, 0, 0}));
  }

  // The queue as the consumer service reports it; nullopt while it does not
  // exist.
  absl::StatusOr<std::optional<v1::QueueInfo>> Queue(const std::string& name) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    v1::ListQueuesRequest request;
    request.add_queues(name);
    v1::ListQueuesResponse response;
    grpc::Status status =
        consumer_stub_->ListQueues(&context, request, &response);
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
      return std::optional<v1::QueueInfo>();
    }
    if (!status.ok()) return RpcError("ListQueues", status);
    if (response.queues_size() != 1) {
      return absl::InternalError(
          absl::StrCat("ListQueues answered ", response.ShortDebugString()));
    }
    return std::optional<v1::QueueInfo>(response.queues(0));
  }

  // Polls ListQueues until `queue` exists and shows `want`; fails, showing
  // the last answer, after kWait.
  ::testing::AssertionResult QueueReaches(const std::string& queue,
                                          QueueState want) {
    std::string last;
    return switchboard::testing::Eventually(
        [&] {
          auto info = Queue(queue);
          if (!info.ok()) {
            last = info.status().ToString();
            return false;
          }
          if (!info->has_value()) {
            last = "no such queue";
            return false;
          }
          const v1::QueueInfo& q = **info;
          last = q.ShortDebugString();
          return q.depth() == want.depth && q.unacked() == want.unacked &&
                 q.subscribers() == want.subscribers;
        },
        [&] {
          return absl::StrCat("queue ", queue, " did not reach depth ",
                              want.depth, ", unacked ", want.unacked,
                              ", subscribers ", want.subscribers,
                              "; last: ", last);
        },
        kWait);
  }

  v1::BroadcasterStats Stats() {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    v1::BroadcasterStats stats;
    grpc::Status status =
        broadcaster_stub_->GetStats(&context, v1::GetStatsRequest(), &stats);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return stats;
  }

  // Publishes JSON lines through the code under test, expecting them all
  // accepted.
  void PublishLines(const std::string& lines) {
    std::istringstream in(lines);
    PublishOptions options;
    options.input = &in;
    std::ostringstream out, err;
    PublishSummary summary;
    absl::Status status =
        Publish(*broadcaster_stub_, options, out, err, &summary);
    ASSERT_TRUE(status.ok()) << status;
    ASSERT_EQ(err.str(), "");
    ASSERT_EQ(summary.rejected, 0) << summary.ToString();
  }

  // Destroyed in reverse order: the servers (consumer, broadcaster, then
  // bridge, so the broadcaster can still flush) before the services.
  std::unique_ptr<bridge::BridgeService> bridge_;
  std::unique_ptr<broadcaster::BroadcasterService> broadcaster_;
  std::unique_ptr<consumer::ConsumerService> consumer_;
  std::unique_ptr<RunningServer> bridge_server_;
  std::unique_ptr<RunningServer> broadcaster_server_;
  std::unique_ptr<RunningServer> consumer_server_;
  std::unique_ptr<v1::Broadcaster::Stub> broadcaster_stub_;
  std::unique_ptr<v1::Consumer::Stub> consumer_stub_;
};

TEST_F(CommandsTest, PublishSendsCountCopiesInBatches) {
  PublishOptions options;
  options.event.set_source("cli/test");
  options.event.set_type("t");
  options.count = 2050;  // More batches than the window.
  options.batch_size = 100;
  options.print_ids = true;
  std::ostringstream out, err;
  PublishSummary summary;
  absl::Status status =
      Publish(*broadcaster_stub_, options, out, err, &summary);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(summary.ToString(),
            "published 2050 events (accepted 2050, rejected 0)");
  EXPECT_EQ(err.str(), "");
  // One id per event, assigned by the broadcaster (UUIDs).
  std::vector<std::string> ids = Lines(out.str());
  ASSERT_THAT(ids, SizeIs(2050));
  EXPECT_THAT(ids, Each(SizeIs(36)));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 2050u);
  EXPECT_TRUE(QueueReaches("app.cli.test", {2050, 0, 0}));
  EXPECT_TRUE(QueueReaches("verbose", {2050, 0, 0}));
}

// --confirm: every answer means the transport holds the batch, so once
// Publish returns the queue already has every event (no polling).
TEST_F(CommandsTest, PublishWithConfirmReturnsOnceTheTransportHasEverything) {
  PublishOptions options;
  options.event.set_source("cli/confirm");
  options.event.set_type("t");
  options.count = 250;
  options.batch_size = 100;
  options.confirm = true;
  std::ostringstream out, err;
  PublishSummary summary;
  absl::Status status =
      Publish(*broadcaster_stub_, options, out, err, &summary);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(summary.ToString(),
            "published 250 events (accepted 250, rejected 0)");
  auto queue = Queue("app.cli.confirm");
  ASSERT_TRUE(queue.ok()) << queue.status();
  ASSERT_TRUE(queue->has_value());
  EXPECT_EQ((*queue)->depth(), 250u);
  EXPECT_EQ(Stats().confirmed(), 250u);
}

TEST_F(CommandsTest, PublishHonoursTheBatchSize) {
  // The broadcaster takes at most 100 events per request and rejects a
  // bigger batch whole, listing each of its events by index: so 250 events
  // in batches of 101 come back as two rejected batches of 101 and an
  // accepted one of 48.
  PublishOptions options;
  options.event.set_source("cli/test");
  options.event.set_type("t");
  options.count = 250;
  options.batch_size = 101;
  options.print_ids = true;
  std::ostringstream out, err;
  PublishSummary summary;
  absl::Status status =
      Publish(*broadcaster_stub_, options, out, err, &summary);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(summary.ToString(),
            "published 250 events (accepted 48, rejected 202)");
  std::vector<std::string> expected_errors;
  for (int batch = 0; batch < 2; ++batch) {
    for (int i = 0; i < 101; ++i) {
      expected_errors.push_back(absl::StrCat(
          "rejected event ", i,
          ": the batch has 101 events; the limit is 100 (max_batch_events)"));
    }
  }
  EXPECT_THAT(Lines(err.str()), ElementsAreArray(expected_errors));
  EXPECT_THAT(Lines(out.str()), SizeIs(48));
  v1::BroadcasterStats stats = Stats();
  EXPECT_EQ(stats.accepted(), 48u);
  EXPECT_EQ(stats.rejected_invalid(), 202u);
  EXPECT_TRUE(QueueReaches("app.cli.test", {48, 0, 0}));
}

TEST_F(CommandsTest, PublishReportsRejections) {
  PublishOptions options;
  options.event.set_type("t");  // No source.
  options.count = 3;
  options.print_ids = true;
  std::ostringstream out, err;
  PublishSummary summary;
  ASSERT_TRUE(Publish(*broadcaster_stub_, options, out, err, &summary).ok());
  EXPECT_EQ(summary.ToString(), "published 3 events (accepted 0, rejected 3)");
  const std::string no_source =
      "source is empty: name the producing app, e.g. 'kytos/topology'";
  EXPECT_THAT(Lines(err.str()),
              ElementsAre("rejected event 0: events[0]: " + no_source,
                          "rejected event 1: events[1]: " + no_source,
                          "rejected event 2: events[2]: " + no_source));
  EXPECT_EQ(out.str(), "");

  options.event.Clear();
  options.event.set_source("cli/test");  // No type.
  options.count = 1;
  std::ostringstream out2, err2;
  ASSERT_TRUE(Publish(*broadcaster_stub_, options, out2, err2, &summary).ok());
  EXPECT_EQ(summary.ToString(), "published 1 events (accepted 0, rejected 1)");
  EXPECT_EQ(err2.str(),
            "rejected event 0: events[0]: type is empty: name the event, "
            "e.g. 'kytos/topology.link_down'\n");
  EXPECT_EQ(out2.str(), "");

  v1::BroadcasterStats stats = Stats();
  EXPECT_EQ(stats.accepted(), 0u);
  EXPECT_EQ(stats.rejected_invalid(), 4u);
}

TEST_F(CommandsTest, PublishFromJsonLinesSkipsMalformedLines) {
  std::istringstream in(
      "{\"source\":\"a\",\"type\":\"t\"}\n"
      "\n"
      "{\"source\":\"a\",\n"
      "{\"type\":\"t\"}\r\n"
      "{\"source\":\"b\",\"type\":\"t\",\"jsonData\":{\"x\":1}}\n");
  PublishOptions options;
  options.input = &in;
  options.batch_size = 2;
  options.print_ids = true;
  std::ostringstream out, err;
  PublishSummary summary;
  absl::Status status =
      Publish(*broadcaster_stub_, options, out, err, &summary);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(summary.published, 3);
  EXPECT_EQ(summary.accepted, 2);
  EXPECT_EQ(summary.rejected, 1);
  EXPECT_EQ(summary.malformed_lines, 1);
  std::vector<std::string> errors = Lines(err.str());
  ASSERT_THAT(errors, SizeIs(2));
  EXPECT_THAT(errors[0], StartsWith("switchboardctl: line 3: not an event: "));
  // Index 1 of the first batch (lines 1 and 4): batches of 2.
  EXPECT_EQ(errors[1],
            "rejected event 1: events[1]: source is empty: name the producing "
            "app, e.g. 'kytos/topology'");
  std::vector<std::string> ids = Lines(out.str());
  ASSERT_THAT(ids, SizeIs(2));

  // The accepted events reach their queues, as sent.
  ASSERT_TRUE(QueueReaches("app.a", {1, 0, 0}));
  ASSERT_TRUE(QueueReaches("app.b", {1, 0, 0}));
  ASSERT_TRUE(QueueReaches("verbose", {2, 0, 0}));
  TailOptions tail;
  tail.queues = {"verbose"};
  tail.count = 2;
  std::ostringstream tailed;
  ASSERT_TRUE(Tail(*consumer_stub_, tail, tailed).ok());
  std::vector<std::string> lines = Lines(tailed.str());
  ASSERT_THAT(lines, SizeIs(2));
  v1::EventDelivery first, second;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(lines[0], &first).ok());
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(lines[1], &second).ok());
  EXPECT_EQ(first.event().id(), ids[0]);
  EXPECT_EQ(first.event().source(), "a");
  EXPECT_EQ(second.event().id(), ids[1]);
  EXPECT_EQ(second.event().source(), "b");
  EXPECT_EQ(second.event().json_data().fields().at("x").number_value(), 1);
}

TEST_F(CommandsTest, TailPrintsJsonLinesAcksAndStopsAtCount) {
  PublishLines(EventLine("e1", "cli/test", 1) + EventLine("e2", "cli/test", 2) +
               EventLine("e3", "cli/test", 3) + EventLine("e4", "cli/test", 4) +
               EventLine("e5", "cli/test", 5));
  ASSERT_TRUE(QueueReaches("app.cli.test", {5, 0, 0}));

  TailOptions options;
  options.queues = {"app.cli.test"};
  options.credit = 7;
  options.count = 3;
  std::ostringstream out;
  absl::Status status = Tail(*consumer_stub_, options, out);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_THAT(
      Lines(out.str()),
      ElementsAre(DeliveryLine(1, "app.cli.test", "e1", "cli/test", 1, 1),
                  DeliveryLine(2, "app.cli.test", "e2", "cli/test", 2, 1),
                  DeliveryLine(3, "app.cli.test", "e3", "cli/test", 3, 1)));
  // The printed three are acked and gone; the other two (delivered within
  // the credit window, not printed) went back unacked. (ASSERT: the next
  // tail would wait forever for deliveries that are not there.)
  ASSERT_TRUE(QueueReaches("app.cli.test", {2, 0, 0}));

  // The next subscriber gets exactly those two, as redeliveries.
  options.count = 2;
  std::ostringstream again;
  status = Tail(*consumer_stub_, options, again);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_THAT(
      Lines(again.str()),
      ElementsAre(DeliveryLine(1, "app.cli.test", "e4", "cli/test", 4, 2),
                  DeliveryLine(2, "app.cli.test", "e5", "cli/test", 5, 2)));
  EXPECT_TRUE(QueueReaches("app.cli.test", {0, 0, 0}));
}

TEST_F(CommandsTest, TailWithoutAcksLeavesEverythingInTheQueue) {
  PublishLines(EventLine("e1", "cli/test", 1) + EventLine("e2", "cli/test", 2));
  ASSERT_TRUE(QueueReaches("app.cli.test", {2, 0, 0}));

  TailOptions options;
  options.queues = {"app.cli.test"};
  options.count = 2;
  options.ack = false;
  std::ostringstream out;
  absl::Status status = Tail(*consumer_stub_, options, out);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_THAT(
      Lines(out.str()),
      ElementsAre(DeliveryLine(1, "app.cli.test", "e1", "cli/test", 1, 1),
                  DeliveryLine(2, "app.cli.test", "e2", "cli/test", 2, 1)));
  // Nothing was acked: both are back, and come again as redeliveries.
  ASSERT_TRUE(QueueReaches("app.cli.test", {2, 0, 0}));
  std::ostringstream again;
  status = Tail(*consumer_stub_, options, again);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_THAT(
      Lines(again.str()),
      ElementsAre(DeliveryLine(1, "app.cli.test", "e1", "cli/test", 1, 2),
                  DeliveryLine(2, "app.cli.test", "e2", "cli/test", 2, 2)));
}

TEST_F(CommandsTest, TailCreditBoundsUnackedDeliveriesUntilTheStreamEnds) {
  PublishLines(EventLine("e1", "cli/test", 1) + EventLine("e2", "cli/test", 2) +
               EventLine("e3", "cli/test", 3) + EventLine("e4", "cli/test", 4) +
               EventLine("e5", "cli/test", 5));
  ASSERT_TRUE(QueueReaches("app.cli.test", {5, 0, 0}));

  // A credit of 2 without acks: two deliveries, then nothing more comes, so
  // a count of 3 is never reached.
  TailOptions options;
  options.queues = {"app.cli.test"};
  options.credit = 2;
  options.count = 3;
  options.ack = false;
  std::ostringstream out;
  absl::Status status;
  std::thread tail([&] { status = Tail(*consumer_stub_, options, out); });
  EXPECT_TRUE(QueueReaches("app.cli.test", {3, 2, 1}));
  std::ostringstream table;
  EXPECT_TRUE(ListQueues(*consumer_stub_, {"app.cli.test"}, /*json=*/false,
                         absl::Seconds(5), table)
                  .ok());
  EXPECT_EQ(table.str(),
            "NAME          DEPTH  UNACKED  SUBSCRIBERS  LAST_VALUE  DROPPED  "
            "REJECTED  EXPIRED  DEAD_LETTERED\n"
            "app.cli.test  3      2        1            no          0        "
            "0         0        0\n");

  // The consumer service shuts down under the subscription: tail reports
  // the stream's end, after printing what it got.
  consumer_server_->Shutdown(absl::Seconds(5));
  tail.join();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(),
            "Subscribe failed: UNAVAILABLE: the service is shutting down");
  EXPECT_THAT(
      Lines(out.str()),
      ElementsAre(DeliveryLine(1, "app.cli.test", "e1", "cli/test", 1, 1),
                  DeliveryLine(2, "app.cli.test", "e2", "cli/test", 2, 1)));
}

// tail --count ends its subscription itself (a `close` after its acks): the
// consumer keeps a half-closed stream delivering up to its credit, so
// waiting for the service to end it would take close_timeout.
TEST_F(CommandsTest, TailEndsItsSubscriptionWithoutWaitingForTheService) {
  PublishLines(EventLine("e1", "cli/test", 1) + EventLine("e2", "cli/test", 2) +
               EventLine("e3", "cli/test", 3));
  ASSERT_TRUE(QueueReaches("app.cli.test", {3, 0, 0}));

  TailOptions options;
  options.queues = {"app.cli.test"};
  options.credit = 10;
  options.count = 1;
  // Never reached: only a tail that waits for the service would hang here.
  options.close_timeout = absl::Hours(1);
  std::ostringstream out;
  absl::Status status = Tail(*consumer_stub_, options, out);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_THAT(
      Lines(out.str()),
      ElementsAre(DeliveryLine(1, "app.cli.test", "e1", "cli/test", 1, 1)));
  // The printed one is acked; the two delivered and not printed went back.
  EXPECT_TRUE(QueueReaches("app.cli.test", {2, 0, 0}));
}

TEST_F(CommandsTest, TailOfAnUnknownQueueReportsTheStreamsError) {
  TailOptions options;
  options.queues = {"verbose", "missing"};
  std::ostringstream out;
  absl::Status status = Tail(*consumer_stub_, options, out);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(),
            "Subscribe failed: NOT_FOUND: queue 'missing' does not exist");
  EXPECT_EQ(out.str(), "");
}

TEST_F(CommandsTest, QueuesTableAndJson) {
  PublishLines(EventLine("k1", "kytos/topology", 1) +
               EventLine("k2", "kytos/topology", 2) +
               EventLine("o1", "of_core", 1));
  ASSERT_TRUE(QueueReaches("verbose", {3, 0, 0}));
  ASSERT_TRUE(QueueReaches("app.kytos.topology", {2, 0, 0}));
  ASSERT_TRUE(QueueReaches("app.of_core", {1, 0, 0}));

  std::ostringstream table;
  ASSERT_TRUE(
      ListQueues(*consumer_stub_, {}, /*json=*/false, absl::Seconds(5), table)
          .ok());
  // Each queue has its dead-letter queue (max_deliveries), listed too.
  EXPECT_EQ(table.str(),
            "NAME                     DEPTH  UNACKED  SUBSCRIBERS  LAST_VALUE  "
            "DROPPED  REJECTED  EXPIRED  DEAD_LETTERED\n"
            "app.kytos.topology       2      0        0            no          "
            "0        0         0        0\n"
            "app.of_core              1      0        0            no          "
            "0        0         0        0\n"
            "dead.app.kytos.topology  0      0        0            no          "
            "0        0         0        0\n"
            "dead.app.of_core         0      0        0            no          "
            "0        0         0        0\n"
            "dead.verbose             0      0        0            no          "
            "0        0         0        0\n"
            "verbose                  3      0        0            no          "
            "0        0         0        0\n");

  // Pretty JSON with the zero fields printed too.
  std::ostringstream json;
  ASSERT_TRUE(ListQueues(*consumer_stub_, {"app.of_core", "verbose"},
                         /*json=*/true, absl::Seconds(5), json)
                  .ok());
  EXPECT_EQ(json.str(),
            "{\n"
            " \"queues\": [\n"
            "  {\n"
            "   \"name\": \"app.of_core\",\n"
            "   \"depth\": \"1\",\n"
            "   \"unacked\": \"0\",\n"
            "   \"subscribers\": 0,\n"
            "   \"lastValue\": false,\n"
            "   \"dropped\": \"0\",\n"
            "   \"rejected\": \"0\",\n"
            "   \"expired\": \"0\",\n"
            "   \"deadLettered\": \"0\"\n"
            "  },\n"
            "  {\n"
            "   \"name\": \"verbose\",\n"
            "   \"depth\": \"3\",\n"
            "   \"unacked\": \"0\",\n"
            "   \"subscribers\": 0,\n"
            "   \"lastValue\": false,\n"
            "   \"dropped\": \"0\",\n"
            "   \"rejected\": \"0\",\n"
            "   \"expired\": \"0\",\n"
            "   \"deadLettered\": \"0\"\n"
            "  }\n"
            " ]\n"
            "}\n");
}

TEST_F(CommandsTest, QueuesOfAnUnknownQueueFails) {
  std::ostringstream out;
  absl::Status status = ListQueues(*consumer_stub_, {"verbose", "nope"},
                                   /*json=*/false, absl::Seconds(5), out);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(),
            "ListQueues failed: NOT_FOUND: queue 'nope' does not exist");
  EXPECT_EQ(out.str(), "");
}

TEST(FormatQueueTableTest, MarksLastValueQueues) {
  // The broadcaster declares no last-value queue yet, so the real services
  // cannot show one: the formatting is checked on its own.
  v1::ListQueuesResponse response;
  v1::QueueInfo* q = response.add_queues();
  q->set_name("app.kytos.topology");
  q->set_depth(12);
  q->set_unacked(3);
  q->set_subscribers(1);
  v1::QueueInfo* lv = response.add_queues();
  lv->set_name("link.s1");
  lv->set_last_value(true);
  EXPECT_EQ(
      FormatQueueTable(response),
      "NAME                DEPTH  UNACKED  SUBSCRIBERS  LAST_VALUE  "
      "DROPPED  REJECTED  EXPIRED  DEAD_LETTERED\n"
      "app.kytos.topology  12     3        1            no          0        "
      "0         0        0\n"
      "link.s1             0      0        0            yes         0        "
      "0         0        0\n");
}

TEST_F(CommandsTest, StatsPrintsEveryCounter) {
  PublishOptions options;
  options.event.set_source("cli/test");
  options.event.set_type("t");
  options.count = 4;
  std::ostringstream out, err;
  PublishSummary summary;
  ASSERT_TRUE(Publish(*broadcaster_stub_, options, out, err, &summary).ok());
  options.event.clear_type();
  options.count = 1;
  ASSERT_TRUE(Publish(*broadcaster_stub_, options, out, err, &summary).ok());
  ASSERT_EQ(summary.rejected, 1);
  ASSERT_TRUE(QueueReaches("app.cli.test", {4, 0, 0}));
  // The bridge has the events; the broadcaster counts them forwarded once
  // their batch's answer is in.
  ASSERT_TRUE(switchboard::testing::Eventually(
      [&] { return Stats().forwarded() >= 4; }, kWait));

  std::ostringstream stats;
  absl::Status status = PrintStats(*broadcaster_stub_, absl::Seconds(5), stats);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(stats.str(),
            "{\n"
            " \"accepted\": \"4\",\n"
            " \"rejectedInvalid\": \"1\",\n"
            " \"rejectedFull\": \"0\",\n"
            " \"dropped\": \"0\",\n"
            " \"forwarded\": \"4\",\n"
            " \"buffered\": \"0\",\n"
            " \"bufferedBytes\": \"0\",\n"
            " \"bridgeConnected\": true,\n"
            " \"bridgeConnects\": \"1\",\n"
            " \"filtered\": \"0\",\n"
            " \"linkEvents\": \"0\",\n"
            " \"settingsGeneration\": \"0\",\n"
            " \"regionEventsDropped\": \"0\",\n"
            " \"switchEventsAbsorbed\": \"0\",\n"
            " \"commandsRouted\": \"0\",\n"
            " \"commandsUnroutable\": \"0\",\n"
            " \"switchEventsEmitted\": \"0\",\n"
            " \"regionRequests\": \"0\",\n"
            " \"queueRefused\": \"0\",\n"
            " \"rejectedQueueCap\": \"0\",\n"
            " \"confirmed\": \"0\",\n"
            " \"confirmFailed\": \"0\",\n"
            " \"confirmWaiting\": \"0\",\n"
            " \"bufferLimitEvents\": \"1000000\",\n"
            " \"bufferLimitBytes\": \"268435456\"\n"
            "}\n");
}

TEST(ConnectTest, UnreachableAddressNamesItAndTheTimeout) {
  // Port 1 on loopback: nothing listens there.
  auto channel = Connect("127.0.0.1:1", absl::Milliseconds(300));
  ASSERT_FALSE(channel.ok());
  EXPECT_EQ(channel.status().message(),
            "cannot reach 127.0.0.1:1 within 300ms");
}

TEST(RpcErrorTest, NamesTheCallAndTheCode) {
  absl::Status s = RpcError(
      "GetStats", grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "late"));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(s.message(), "GetStats failed: DEADLINE_EXCEEDED: late");
}

// FAKES, on purpose: the real broadcaster always answers each batch with its
// own id, in order, and the real consumer service never ends a subscription
// with OK while the client still reads (it ends it only when the client
// half-closes, or with an error). These commit exactly those violations, so
// that the CLI's checks for them run.
class WrongBatchIdBroadcaster : public v1::Broadcaster::Service {
 public:
  grpc::Status Publish(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::PublishResponse, v1::PublishRequest>* stream)
      override {
    v1::PublishRequest request;
    while (stream->Read(&request)) {
      v1::PublishResponse response;
      response.set_batch_id(request.batch_id() + 7);
      if (!stream->Write(response)) break;
    }
    return grpc::Status::OK;
  }
};

class EndsEarlyConsumer : public v1::Consumer::Service {
 public:
  grpc::Status Subscribe(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::SubscribeResponse, v1::SubscribeRequest>*
          stream) override {
    v1::SubscribeRequest request;
    if (!stream->Read(&request)) return grpc::Status::OK;
    v1::SubscribeResponse response;
    response.add_deliveries()->set_tag(1);
    stream->Write(response);
    return grpc::Status::OK;
  }
};

class ProtocolViolationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&broadcaster_);
    builder.RegisterService(&consumer_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    auto channel = Connect(absl::StrCat("127.0.0.1:", port), absl::Seconds(5));
    ASSERT_TRUE(channel.ok()) << channel.status();
    broadcaster_stub_ = v1::Broadcaster::NewStub(*channel);
    consumer_stub_ = v1::Consumer::NewStub(*channel);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  WrongBatchIdBroadcaster broadcaster_;
  EndsEarlyConsumer consumer_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Broadcaster::Stub> broadcaster_stub_;
  std::unique_ptr<v1::Consumer::Stub> consumer_stub_;
};

TEST_F(ProtocolViolationTest, PublishChecksTheAnswersBatchIds) {
  PublishOptions options;
  options.event.set_source("s");
  options.event.set_type("t");
  options.count = 5;
  std::ostringstream out, err;
  PublishSummary summary;
  absl::Status status =
      Publish(*broadcaster_stub_, options, out, err, &summary);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(status.message(),
            "Publish: the broadcaster answered batch 8 while batch 1 was due");
}

TEST_F(ProtocolViolationTest, TailFailsWhenTheStreamEndsBeforeCount) {
  TailOptions options;
  options.queues = {"q"};
  options.count = 5;
  std::ostringstream out;
  absl::Status status = Tail(*consumer_stub_, options, out);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(status.message(),
            "the consumer service ended the subscription after 1 of 5 "
            "deliveries");
  EXPECT_THAT(Lines(out.str()), ElementsAre(R"({"tag":"1"})"));
}

}  // namespace
}  // namespace switchboard::ctl
