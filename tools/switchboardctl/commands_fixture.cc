#include "tools/switchboardctl/commands_fixture.h"

#include <grpcpp/grpcpp.h>

#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "services/common/config.h"
#include "tests/testing/eventually.h"

namespace switchboard::ctl {
namespace {

ConfigNode Yaml(const std::string& text) {
  auto node = ConfigNode::Parse(text, "test.yaml");
  EXPECT_TRUE(node.ok()) << node.status();
  return node.ok() ? *std::move(node) : ConfigNode();
}

}  // namespace

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

std::string EventLine(const std::string& id, const std::string& source,
                      int sequence) {
  return absl::StrCat(R"({"id":")", id, R"(","source":")", source,
                      R"(","type":"t","time":"2024-05-01T12:00:00Z",)",
                      R"("sequence":")", sequence, R"("})", "\n");
}

std::string EventLines(const std::string& source, int n) {
  std::string lines;
  for (int i = 1; i <= n; ++i) {
    lines += EventLine(absl::StrCat("e", i), source, i);
  }
  return lines;
}

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

std::vector<std::string> CliTestDeliveries(int first, int last,
                                           int delivery_count) {
  std::vector<std::string> lines;
  for (int i = first; i <= last; ++i) {
    lines.push_back(DeliveryLine(i - first + 1, "app.cli.test",
                                 absl::StrCat("e", i), "cli/test", i,
                                 delivery_count));
  }
  return lines;
}

PublishOptions CountOptions(const std::string& source, int64_t count) {
  PublishOptions options;
  options.event.set_source(source);
  options.event.set_type("t");
  options.count = count;
  return options;
}

TailOptions CliTestTail(int64_t count) {
  TailOptions options;
  options.queues = {"app.cli.test"};
  options.count = count;
  return options;
}

void CommandsTest::SetUp() {
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

absl::StatusOr<std::optional<v1::QueueInfo>> CommandsTest::Queue(
    const std::string& name) {
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

::testing::AssertionResult CommandsTest::QueueReaches(const std::string& queue,
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
        return absl::StrCat(
            "queue ", queue, " did not reach depth ", want.depth, ", unacked ",
            want.unacked, ", subscribers ", want.subscribers, "; last: ", last);
      },
      kWait);
}

v1::BroadcasterStats CommandsTest::Stats() {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  v1::BroadcasterStats stats;
  grpc::Status status =
      broadcaster_stub_->GetStats(&context, v1::GetStatsRequest(), &stats);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return stats;
}

PublishRun CommandsTest::RunPublish(const PublishOptions& options,
                                    const PublishSummary& previous) {
  std::ostringstream out, err;
  PublishRun run;
  run.summary = previous;
  run.status = Publish(*broadcaster_stub_, options, out, err, &run.summary);
  run.out = out.str();
  run.err = err.str();
  return run;
}

TailRun CommandsTest::RunTail(const TailOptions& options) {
  std::ostringstream out;
  TailRun run;
  run.status = Tail(*consumer_stub_, options, out);
  run.out = out.str();
  run.lines = Lines(run.out);
  return run;
}

void CommandsTest::PublishLines(const std::string& lines) {
  std::istringstream in(lines);
  PublishOptions options;
  options.input = &in;
  PublishRun run = RunPublish(options);
  ASSERT_TRUE(run.status.ok()) << run.status;
  ASSERT_EQ(run.err, "");
  ASSERT_EQ(run.summary.rejected, 0) << run.summary.ToString();
}

void CommandsTest::PublishCliTestEvents(int n) {
  ASSERT_NO_FATAL_FAILURE(PublishLines(EventLines("cli/test", n)));
  ASSERT_TRUE(QueueReaches("app.cli.test", {static_cast<uint64_t>(n), 0, 0}));
}

}  // namespace switchboard::ctl
