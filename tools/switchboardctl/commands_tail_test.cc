// `tail` against the real services, in process (commands_fixture.h).
#include <sstream>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/switchboardctl/commands.h"
#include "tools/switchboardctl/commands_fixture.h"

namespace switchboard::ctl {
namespace {

using ::testing::ElementsAreArray;

TEST_F(CommandsTest, TailPrintsJsonLinesAcksAndStopsAtCount) {
  ASSERT_NO_FATAL_FAILURE(PublishCliTestEvents(5));

  TailOptions options = CliTestTail(/*count=*/3);
  options.credit = 7;
  TailRun run = RunTail(options);
  ASSERT_TRUE(run.status.ok()) << run.status;
  EXPECT_THAT(run.lines, ElementsAreArray(CliTestDeliveries(1, 3, 1)));
  // The printed three are acked and gone; the other two (delivered within
  // the credit window, not printed) went back unacked. (ASSERT: the next
  // tail would wait forever for deliveries that are not there.)
  ASSERT_TRUE(QueueReaches("app.cli.test", {2, 0, 0}));

  // The next subscriber gets exactly those two, as redeliveries.
  options.count = 2;
  run = RunTail(options);
  ASSERT_TRUE(run.status.ok()) << run.status;
  EXPECT_THAT(run.lines, ElementsAreArray(CliTestDeliveries(4, 5, 2)));
  EXPECT_TRUE(QueueReaches("app.cli.test", {0, 0, 0}));
}

TEST_F(CommandsTest, TailWithoutAcksLeavesEverythingInTheQueue) {
  ASSERT_NO_FATAL_FAILURE(PublishCliTestEvents(2));

  TailOptions options = CliTestTail(/*count=*/2);
  options.ack = false;
  TailRun run = RunTail(options);
  ASSERT_TRUE(run.status.ok()) << run.status;
  EXPECT_THAT(run.lines, ElementsAreArray(CliTestDeliveries(1, 2, 1)));
  // Nothing was acked: both are back, and come again as redeliveries.
  ASSERT_TRUE(QueueReaches("app.cli.test", {2, 0, 0}));
  run = RunTail(options);
  ASSERT_TRUE(run.status.ok()) << run.status;
  EXPECT_THAT(run.lines, ElementsAreArray(CliTestDeliveries(1, 2, 2)));
}

TEST_F(CommandsTest, TailCreditBoundsUnackedDeliveriesUntilTheStreamEnds) {
  ASSERT_NO_FATAL_FAILURE(PublishCliTestEvents(5));

  // A credit of 2 without acks: two deliveries, then nothing more comes, so
  // a count of 3 is never reached.
  TailOptions options = CliTestTail(/*count=*/3);
  options.credit = 2;
  options.ack = false;
  TailRun run;
  std::thread tail([&] { run = RunTail(options); });
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
  EXPECT_EQ(run.status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(run.status.message(),
            "Subscribe failed: UNAVAILABLE: the service is shutting down");
  EXPECT_THAT(run.lines, ElementsAreArray(CliTestDeliveries(1, 2, 1)));
}

// tail --count ends its subscription itself (a `close` after its acks): the
// consumer keeps a half-closed stream delivering up to its credit, so
// waiting for the service to end it would take close_timeout.
TEST_F(CommandsTest, TailEndsItsSubscriptionWithoutWaitingForTheService) {
  ASSERT_NO_FATAL_FAILURE(PublishCliTestEvents(3));

  TailOptions options = CliTestTail(/*count=*/1);
  options.credit = 10;
  // Never reached: only a tail that waits for the service would hang here.
  options.close_timeout = absl::Hours(1);
  TailRun run = RunTail(options);
  ASSERT_TRUE(run.status.ok()) << run.status;
  EXPECT_THAT(run.lines, ElementsAreArray(CliTestDeliveries(1, 1, 1)));
  // The printed one is acked; the two delivered and not printed went back.
  EXPECT_TRUE(QueueReaches("app.cli.test", {2, 0, 0}));
}

TEST_F(CommandsTest, TailOfAnUnknownQueueReportsTheStreamsError) {
  TailOptions options;
  options.queues = {"verbose", "missing"};
  TailRun run = RunTail(options);
  EXPECT_EQ(run.status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(run.status.message(),
            "Subscribe failed: NOT_FOUND: queue 'missing' does not exist");
  EXPECT_EQ(run.out, "");
}

}  // namespace
}  // namespace switchboard::ctl
