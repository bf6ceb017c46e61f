// `queues` and `stats` against the real services, in process
// (commands_fixture.h).
#include <sstream>
#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/testing/eventually.h"
#include "tools/switchboardctl/commands.h"
#include "tools/switchboardctl/commands_fixture.h"

namespace switchboard::ctl {
namespace {

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

TEST_F(CommandsTest, StatsPrintsEveryCounter) {
  PublishOptions options = CountOptions("cli/test", 4);
  ASSERT_TRUE(RunPublish(options).status.ok());
  options.event.clear_type();
  options.count = 1;
  PublishRun invalid = RunPublish(options);
  ASSERT_TRUE(invalid.status.ok());
  ASSERT_EQ(invalid.summary.rejected, 1);
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

}  // namespace
}  // namespace switchboard::ctl
