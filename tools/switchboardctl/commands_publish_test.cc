// `publish` against the real services, in process (commands_fixture.h).
#include <google/protobuf/util/json_util.h>

#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/switchboardctl/commands.h"
#include "tools/switchboardctl/commands_fixture.h"

namespace switchboard::ctl {
namespace {

using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::SizeIs;
using ::testing::StartsWith;

TEST_F(CommandsTest, PublishSendsCountCopiesInBatches) {
  PublishOptions options = CountOptions("cli/test", 2050);
  // More batches than the window.
  options.batch_size = 100;
  options.print_ids = true;
  PublishRun run = RunPublish(options);
  ASSERT_TRUE(run.status.ok()) << run.status;
  EXPECT_EQ(run.summary.ToString(),
            "published 2050 events (accepted 2050, rejected 0)");
  EXPECT_EQ(run.err, "");
  // One id per event, assigned by the broadcaster (UUIDs).
  std::vector<std::string> ids = Lines(run.out);
  ASSERT_THAT(ids, SizeIs(2050));
  EXPECT_THAT(ids, Each(SizeIs(36)));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 2050u);
  EXPECT_TRUE(QueueReaches("app.cli.test", {2050, 0, 0}));
  EXPECT_TRUE(QueueReaches("verbose", {2050, 0, 0}));
}

// --confirm: every answer means the transport holds the batch, so once
// Publish returns the queue already has every event (no polling).
TEST_F(CommandsTest, PublishWithConfirmReturnsOnceTheTransportHasEverything) {
  PublishOptions options = CountOptions("cli/confirm", 250);
  options.batch_size = 100;
  options.confirm = true;
  PublishRun run = RunPublish(options);
  ASSERT_TRUE(run.status.ok()) << run.status;
  EXPECT_EQ(run.summary.ToString(),
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
  PublishOptions options = CountOptions("cli/test", 250);
  options.batch_size = 101;
  options.print_ids = true;
  PublishRun run = RunPublish(options);
  ASSERT_TRUE(run.status.ok()) << run.status;
  EXPECT_EQ(run.summary.ToString(),
            "published 250 events (accepted 48, rejected 202)");
  std::vector<std::string> expected_errors;
  for (int batch = 0; batch < 2; ++batch) {
    for (int i = 0; i < 101; ++i) {
      expected_errors.push_back(absl::StrCat(
          "rejected event ", i,
          ": the batch has 101 events; the limit is 100 (max_batch_events)"));
    }
  }
  EXPECT_THAT(Lines(run.err), ElementsAreArray(expected_errors));
  EXPECT_THAT(Lines(run.out), SizeIs(48));
  v1::BroadcasterStats stats = Stats();
  EXPECT_EQ(stats.accepted(), 48u);
  EXPECT_EQ(stats.rejected_invalid(), 202u);
  EXPECT_TRUE(QueueReaches("app.cli.test", {48, 0, 0}));
}

TEST_F(CommandsTest, PublishReportsRejections) {
  PublishOptions options = CountOptions("", 3);  // No source.
  options.print_ids = true;
  PublishRun run = RunPublish(options);
  ASSERT_TRUE(run.status.ok());
  EXPECT_EQ(run.summary.ToString(),
            "published 3 events (accepted 0, rejected 3)");
  const std::string no_source =
      "source is empty: name the producing app, e.g. 'kytos/topology'";
  EXPECT_THAT(Lines(run.err),
              ElementsAre("rejected event 0: events[0]: " + no_source,
                          "rejected event 1: events[1]: " + no_source,
                          "rejected event 2: events[2]: " + no_source));
  EXPECT_EQ(run.out, "");

  options.event.Clear();
  options.event.set_source("cli/test");  // No type.
  options.count = 1;
  // The same summary again: it holds only this run's counts.
  run = RunPublish(options, run.summary);
  ASSERT_TRUE(run.status.ok());
  EXPECT_EQ(run.summary.ToString(),
            "published 1 events (accepted 0, rejected 1)");
  EXPECT_EQ(run.err,
            "rejected event 0: events[0]: type is empty: name the event, "
            "e.g. 'kytos/topology.link_down'\n");
  EXPECT_EQ(run.out, "");

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
  PublishRun run = RunPublish(options);
  ASSERT_TRUE(run.status.ok()) << run.status;
  EXPECT_EQ(run.summary.published, 3);
  EXPECT_EQ(run.summary.accepted, 2);
  EXPECT_EQ(run.summary.rejected, 1);
  EXPECT_EQ(run.summary.malformed_lines, 1);
  std::vector<std::string> errors = Lines(run.err);
  ASSERT_THAT(errors, SizeIs(2));
  EXPECT_THAT(errors[0], StartsWith("switchboardctl: line 3: not an event: "));
  // Index 1 of the first batch (lines 1 and 4): batches of 2.
  EXPECT_EQ(errors[1],
            "rejected event 1: events[1]: source is empty: name the producing "
            "app, e.g. 'kytos/topology'");
  std::vector<std::string> ids = Lines(run.out);
  ASSERT_THAT(ids, SizeIs(2));

  // The accepted events reach their queues, as sent.
  ASSERT_TRUE(QueueReaches("app.a", {1, 0, 0}));
  ASSERT_TRUE(QueueReaches("app.b", {1, 0, 0}));
  ASSERT_TRUE(QueueReaches("verbose", {2, 0, 0}));
  TailOptions tail;
  tail.queues = {"verbose"};
  tail.count = 2;
  TailRun tailed = RunTail(tail);
  ASSERT_TRUE(tailed.status.ok());
  ASSERT_THAT(tailed.lines, SizeIs(2));
  v1::EventDelivery first, second;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(tailed.lines[0], &first)
          .ok());
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(tailed.lines[1], &second)
          .ok());
  EXPECT_EQ(first.event().id(), ids[0]);
  EXPECT_EQ(first.event().source(), "a");
  EXPECT_EQ(second.event().id(), ids[1]);
  EXPECT_EQ(second.event().source(), "b");
  EXPECT_EQ(second.event().json_data().fields().at("x").number_value(), 1);
}

}  // namespace
}  // namespace switchboard::ctl
