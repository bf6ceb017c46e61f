#ifndef SWITCHBOARD_TOOLS_SWITCHBOARDCTL_COMMANDS_FIXTURE_H_
#define SWITCHBOARD_TOOLS_SWITCHBOARDCTL_COMMANDS_FIXTURE_H_

// What the commands_*_test files share: the real services (an mq-bridge on
// the memory transport, a broadcaster and a consumer service, each on its own
// loopback port, wired together as in a deployment) and the helpers that
// publish through them and read their queues back.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "services/broadcaster/broadcaster_service.h"
#include "services/common/server.h"
#include "services/consumer/consumer_service.h"
#include "services/mq-bridge/bridge_service.h"
#include "tools/switchboardctl/commands.h"

namespace switchboard::ctl {

// Upper bound for anything asynchronous (forwarding to the bridge, acks
// reaching it, unacked deliveries returning to their queue). Polls end as
// soon as the state shows up; this only bounds a broken run.
inline constexpr absl::Duration kWait = absl::Seconds(30);

// The non-empty lines of `text`.
std::vector<std::string> Lines(const std::string& text);

// One line of `publish --stdin` input with every field the broadcaster would
// otherwise fill in (id, time, sequence), so deliveries are predictable.
std::string EventLine(const std::string& id, const std::string& source,
                      int sequence);

// EventLine("e1", source, 1) through EventLine("e<n>", source, n).
std::string EventLines(const std::string& source, int n);

// What one published EventLine looks like as a `tail` output line.
std::string DeliveryLine(int tag, const std::string& queue,
                         const std::string& id, const std::string& source,
                         int sequence, int delivery_count);

// The `tail` output lines for EventLines("cli/test", ...) events e<first>
// through e<last> from queue app.cli.test, tagged from 1, each delivered for
// the `delivery_count`th time.
std::vector<std::string> CliTestDeliveries(int first, int last,
                                           int delivery_count);

// `count` flag-built events of `source` (type "t").
PublishOptions CountOptions(const std::string& source, int64_t count);

// `tail` of queue app.cli.test, ending after `count` deliveries.
TailOptions CliTestTail(int64_t count);

// What one Publish call returned and printed.
struct PublishRun {
  absl::Status status;
  PublishSummary summary;
  std::string out;
  std::string err;
};

// What one Tail call returned and printed.
struct TailRun {
  absl::Status status;
  std::string out;
  std::vector<std::string> lines;  // Lines(out)
};

// A queue's numbers as ListQueues reports them.
struct QueueState {
  uint64_t depth = 0;
  uint64_t unacked = 0;
  uint32_t subscribers = 0;
};

class CommandsTest : public ::testing::Test {
 protected:
  void SetUp() override;

  // The queue as the consumer service reports it; nullopt while it does not
  // exist.
  absl::StatusOr<std::optional<v1::QueueInfo>> Queue(const std::string& name);

  // Polls ListQueues until `queue` exists and shows `want`; fails, showing
  // the last answer, after kWait.
  ::testing::AssertionResult QueueReaches(const std::string& queue,
                                          QueueState want);

  v1::BroadcasterStats Stats();

  // Publish through the code under test, into a summary that starts as
  // `previous` (a summary reused from an earlier run must be reset).
  PublishRun RunPublish(const PublishOptions& options,
                        const PublishSummary& previous = PublishSummary());

  // Tail through the code under test.
  TailRun RunTail(const TailOptions& options);

  // Publishes JSON lines through the code under test, expecting them all
  // accepted.
  void PublishLines(const std::string& lines);

  // Publishes EventLines("cli/test", n) and waits until queue app.cli.test
  // holds the n of them.
  void PublishCliTestEvents(int n);

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

}  // namespace switchboard::ctl

#endif  // SWITCHBOARD_TOOLS_SWITCHBOARDCTL_COMMANDS_FIXTURE_H_
