#ifndef SWITCHBOARD_TOOLS_SWITCHBOARDCTL_COMMANDS_H_
#define SWITCHBOARD_TOOLS_SWITCHBOARDCTL_COMMANDS_H_

#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <istream>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/common/client_channel.h"
#include "switchboard/v1/broadcaster.grpc.pb.h"
#include "switchboard/v1/consumer.grpc.pb.h"
#include "switchboard/v1/event.pb.h"

// The RPC side of switchboardctl. Every function returns the error to print
// after "switchboardctl: "; RPC failures name the call and carry the gRPC
// status code name and message, e.g.
//   "Subscribe failed: NOT_FOUND: queue 'x' does not exist".
namespace switchboard::ctl {

// Batches `publish` keeps in flight before it waits for an answer.
inline constexpr int kPublishWindow = 16;

// A channel to `address` (HOST:PORT or unix:PATH) with `credentials`
// (default: plaintext, no token), connected within `timeout`; otherwise
// "cannot reach <address> within <timeout>".
absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(
    const std::string& address, absl::Duration timeout,
    const ClientCredentials& credentials = ClientCredentials());

// "<call> failed: <CODE_NAME>: <message>", with the gRPC code's name
// (NOT_FOUND, UNAVAILABLE, ...) and the same code.
absl::Status RpcError(absl::string_view call, const grpc::Status& status);

// A message in the proto3 JSON mapping (lowerCamelCase names). `pretty`
// indents it over several lines; otherwise it is one line. `print_defaults`
// also prints fields holding their default (zero counters, false flags).
// No trailing newline.
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message,
                                   bool pretty, bool print_defaults);

// What `publish` sends.
struct PublishOptions {
  // Events from flags: `event`, `count` times. Ignored when `input` is set.
  v1::Event event;
  int64_t count = 1;
  // Events from JSON lines (ParseEventJsonLine), when not null.
  std::istream* input = nullptr;
  // Events per PublishRequest.
  int batch_size = 100;
  // Print each accepted event's id on `out`.
  bool print_ids = false;
  // Acceptance CONFIRMED: each batch is answered once the transport has
  // confirmed it (slower; survives a crash of any switchboard process).
  bool confirm = false;
};

// How `publish` went; filled in even when it fails half-way.
struct PublishSummary {
  // Events the broadcaster answered for: accepted + rejected.
  int64_t published = 0;
  int64_t accepted = 0;
  int64_t rejected = 0;
  // Input lines that were not events (and so were not sent).
  int64_t malformed_lines = 0;

  // "published N events (accepted A, rejected R)".
  std::string ToString() const;
};

// Publishes over one Broadcaster.Publish stream, in batches of
// `batch_size`, with up to kPublishWindow unanswered batches in flight.
// Writes "rejected event <index in batch>: <reason>" to `err` for every
// rejection and "switchboardctl: line N: ..." for malformed input lines
// (which are skipped); accepted ids go to `out` with `print_ids`. Fails only
// when the stream fails or the broadcaster's answers do not match the
// batches; rejections and malformed lines show in `summary`.
absl::Status Publish(v1::Broadcaster::StubInterface& stub,
                     const PublishOptions& options, std::ostream& out,
                     std::ostream& err, PublishSummary* summary);

// What `tail` subscribes to.
struct TailOptions {
  std::vector<std::string> queues;
  // Credit window (0: the consumer service's default).
  uint32_t credit = 100;
  // Deliveries to print before ending the subscription; 0 means forever.
  int64_t count = 0;
  // Ack every printed delivery.
  bool ack = true;
  // After the last wanted delivery the stream is half-closed; how long the
  // service gets to end it before it is cancelled.
  absl::Duration close_timeout = absl::Seconds(10);
};

// Subscribes and prints every delivery as one line of JSON (the
// EventDelivery message) on `out`, flushing after each. Acks the printed
// deliveries of each response in one message. Deliveries after the
// `count`-th are not printed nor acked: they return to their queue.
absl::Status Tail(v1::Consumer::StubInterface& stub, const TailOptions& options,
                  std::ostream& out);

// Prints ListQueues: a table, or JSON with `json`.
absl::Status ListQueues(v1::Consumer::StubInterface& stub,
                        const std::vector<std::string>& queues, bool json,
                        absl::Duration timeout, std::ostream& out);

// The table `queues` prints: NAME DEPTH UNACKED SUBSCRIBERS LAST_VALUE.
std::string FormatQueueTable(const v1::ListQueuesResponse& response);

// Prints GetStats as JSON, every counter included.
absl::Status PrintStats(v1::Broadcaster::StubInterface& stub,
                        absl::Duration timeout, std::ostream& out);

}  // namespace switchboard::ctl

#endif  // SWITCHBOARD_TOOLS_SWITCHBOARDCTL_COMMANDS_H_
