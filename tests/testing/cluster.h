#ifndef SWITCHBOARD_TESTS_TESTING_CLUSTER_H_
#define SWITCHBOARD_TESTS_TESTING_CLUSTER_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "switchboard/v1/admin.grpc.pb.h"
#include "switchboard/v1/broadcaster.grpc.pb.h"
#include "switchboard/v1/consumer.grpc.pb.h"
#include "tests/testing/eventually.h"
#include "tests/testing/http_get.h"
#include "tests/testing/process.h"

namespace switchboard::testing {

// The three service binaries as real processes on loopback, each on a port
// it picked itself (port 0, reported through --port_file). Configs are YAML
// templates in which $BRIDGE stands for the bridge's address.
class Cluster {
 public:
  struct Options {
    std::string bridge_yaml = "listen: 127.0.0.1:0\n";
    std::string broadcaster_yaml =
        "listen: 127.0.0.1:0\n"
        "bridge:\n"
        "  address: $BRIDGE\n"
        "  backoff_initial: 20ms\n"
        "  backoff_max: 200ms\n";
    std::string consumer_yaml =
        "listen: 127.0.0.1:0\n"
        "bridge:\n"
        "  address: $BRIDGE\n";
    // Services check every mutex acquisition for lock-order cycles
    // (--mutex_deadlock_detection); the benchmark turns it off.
    bool mutex_deadlock_detection = true;
  };

  // Starts bridge, broadcaster and consumer, in that order.
  static absl::StatusOr<std::unique_ptr<Cluster>> Start(Options options);

  // (Re)starts one service; the bridge keeps its port across restarts.
  absl::Status StartBridge();
  absl::Status StartBroadcaster();
  absl::Status StartConsumer();

  Process& bridge() { return *bridge_; }
  Process& broadcaster() { return *broadcaster_; }
  Process& consumer() { return *consumer_; }

  std::string bridge_address() const { return Address(bridge_port_); }
  std::string broadcaster_address() const { return Address(broadcaster_port_); }
  std::string consumer_address() const { return Address(consumer_port_); }
  const std::string& dir() const { return dir_; }
  // Replaces a service's config file ("bridge", "broadcaster" or
  // "consumer"; $BRIDGE expanded) for its next reload or restart.
  void RewriteConfig(const std::string& service, const std::string& yaml);

  // The service's stderr so far, for failure messages.
  std::string Log(const std::string& service) const;
  // The port the service serves /metrics on (its config sets
  // metrics.listen); 0 when it does not.
  int MetricsPort(const std::string& service) const;
  // `queue`'s depth as the consumer's ListQueues reports it; kNoQueue when
  // the queue is not listed or the consumer does not answer.
  static constexpr uint64_t kNoQueue = ~uint64_t{0};
  uint64_t QueueDepth(const std::string& queue) const;
  // Waits until the consumer lists `queue` with `depth` ready events. Events
  // a producer published reach the bridge after Publish returns (the
  // broadcaster forwards them on its own), and the first event of a source
  // is what declares its `app.<source>` queue: a test subscribes after this
  // one, not after Publish. Fails with the depth last seen and the logs.
  ::testing::AssertionResult AwaitDepth(const std::string& queue,
                                        uint64_t depth) const;

 private:
  explicit Cluster(Options options);
  static std::string Address(int port) {
    return "127.0.0.1:" + std::to_string(port);
  }
  // Starts (or restarts, on the same port) one service into `slot`.
  absl::Status StartService(const std::string& name, const std::string& binary,
                            const std::string& yaml, int* port,
                            std::unique_ptr<Process>* slot);

  Options options_;
  std::string dir_;
  int bridge_port_ = 0;
  int broadcaster_port_ = 0;
  int consumer_port_ = 0;
  std::unique_ptr<Process> bridge_;
  std::unique_ptr<Process> broadcaster_;
  std::unique_ptr<Process> consumer_;
};

// `n` events from `source`, each with `payload_bytes` of binary data and
// its index in attribute "i".
std::vector<switchboard::v1::Event> MakeEvents(const std::string& source,
                                               const std::string& type, int n,
                                               size_t payload_bytes = 64);

// The helpers below send `token` (when not empty) as
// `authorization: Bearer <token>`.
void AddToken(grpc::ClientContext& context, const std::string& token);

// Publishes `events` on one Publish stream, `per_batch` per request, and
// returns the answers in order.
absl::StatusOr<std::vector<switchboard::v1::PublishResponse>> Publish(
    const std::string& address, std::vector<switchboard::v1::Event> events,
    size_t per_batch = 100, const std::string& token = "");

absl::StatusOr<switchboard::v1::ListQueuesResponse> ListQueues(
    const std::string& consumer_address, const std::string& token = "");

absl::StatusOr<switchboard::v1::BroadcasterStats> GetBroadcasterStats(
    const std::string& broadcaster_address, const std::string& token = "");

// Admin.Reload on the service at `address`.
absl::StatusOr<switchboard::v1::ReloadResponse> ReloadSettings(
    const std::string& address, const std::string& token = "");

// gtest expectations: the deliveries hold each source's sequence numbers
// 1..sent[source] exactly once (by event id too), in order.
void ExpectExactlyOnceInSourceOrder(
    const std::vector<switchboard::v1::EventDelivery>& got,
    const std::map<std::string, int>& sent);

// An application's Subscribe stream, read by a background thread.
class Subscriber {
 public:
  static absl::StatusOr<std::unique_ptr<Subscriber>> Open(
      const std::string& consumer_address,
      const std::vector<std::string>& queues, uint32_t credit, bool auto_ack);
  // With the whole `open` message (acked events, ack deadline, ...).
  static absl::StatusOr<std::unique_ptr<Subscriber>> Open(
      const std::string& consumer_address,
      const switchboard::v1::SubscribeOpen& open, bool auto_ack,
      const std::string& token = "");
  ~Subscriber();

  // Waits until at least `n` deliveries arrived (or the stream ended, or
  // `timeout` passed) and returns all so far.
  std::vector<switchboard::v1::EventDelivery> WaitFor(
      size_t n, absl::Duration timeout = absl::Seconds(30));
  size_t count();
  void Ack(const std::vector<uint64_t>& tags);
  // Ends the stream from the app's side without acking anything more.
  void Cancel();
  // Waits for the stream to end and returns its status.
  grpc::Status Wait(absl::Duration timeout = absl::Seconds(30));

 private:
  Subscriber() = default;
  void ReadLoop();

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<switchboard::v1::Consumer::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<switchboard::v1::SubscribeRequest,
                                           switchboard::v1::SubscribeResponse>>
      stream_;
  bool auto_ack_ = false;
  std::thread reader_;
  absl::Mutex write_mu_;
  absl::Mutex mu_;
  std::vector<switchboard::v1::EventDelivery> deliveries_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_CLUSTER_H_
