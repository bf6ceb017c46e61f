#ifndef SWITCHBOARD_SERVICES_CONSUMER_CONSUMER_SERVICE_H_
#define SWITCHBOARD_SERVICES_CONSUMER_CONSUMER_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/common/auth_policy.h"
#include "services/common/bidi_stream.h"
#include "services/common/client_channel.h"
#include "services/common/config.h"
#include "services/common/listen_settings.h"
#include "services/common/server.h"
#include "services/common/server_limits.h"
#include "services/consumer/bridge_call.h"
#include "services/consumer/consumer_metrics.h"
#include "services/consumer/dedup_window.h"
#include "services/consumer/link_view.h"
#include "services/consumer/relay.pb.h"
#include "services/consumer/timer_worker.h"
#include "switchboard/v1/bridge.grpc.pb.h"
#include "switchboard/v1/consumer.grpc.pb.h"

namespace switchboard::consumer {

// The consumer service's settings (consumer.yaml).
struct ConsumerConfig {
  // `listen`: TCP, plus or instead a unix socket (see ListenSettings).
  ListenSettings listen = ListenSettings::Tcp("0.0.0.0", 50052);
  std::string bridge_address = "127.0.0.1:50053";
  // `bridge.tls` (plaintext unless its ca_file is set) and the token of
  // `bridge.token_file`.
  ClientCredentials bridge_credentials;
  // Credit window of a subscription that asks for 0.
  uint32_t default_credit = 100;
  // Largest credit window an app may ask for.
  uint32_t max_credit = 10000;
  // Event ids remembered per queue to drop duplicate deliveries (a
  // transport's republish or redelivery); 0 turns deduplication off
  // (`dedup.window`; the old top-level `dedup_window` still works).
  uint64_t dedup_window = 100000;
  // `dedup.store`: "memory" (forgotten by a restart) or "file" (kept in
  // `dedup.directory`, see DedupStore).
  std::string dedup_store = "memory";
  std::string dedup_directory;
  // How long a delivery may stay unacked before it goes back to its queue
  // (a subscription's SubscribeOpen.ack_deadline overrides it); zero: off.
  absl::Duration ack_deadline = absl::Seconds(30);
  // The link-status view (`links`).
  LinkViewConfig links;
  // `limits`, shared by every service; its keepalive also applies to the
  // channel to the bridge.
  ServerLimits limits;

  static absl::StatusOr<ConsumerConfig> Parse(
      const ConfigNode& config, const std::string& listen_override);
};

// Where applications subscribe. Each Subscribe stream is relayed to one
// bridge Consume stream, so a subscriber's credit window is the bridge's
// prefetch and its unacked deliveries return to their queues whenever
// either stream ends. Unless `links.queue_prefix` is empty, a LinkView also
// keeps the newest status of every link for GetLinkStatus, ListLinkStatus
// and WatchLinkStatus, and Subscribe refuses the link queues it reads.
// Thread-safe.
class ConsumerService final
    : public ServiceBase,
      public switchboard::v1::Consumer::CallbackService {
 public:
  static absl::StatusOr<std::unique_ptr<ConsumerService>> Create(
      const ConfigNode& config, const std::string& listen_override);
  // Create's validation without opening the dedup store.
  static absl::Status CheckConfig(const ConfigNode& config,
                                  const std::string& listen_override);

  // Opens the dedup store (`dedup.store: file`) and makes the service.
  static absl::StatusOr<std::unique_ptr<ConsumerService>> Create(
      ConsumerConfig config, TimerWorker::Clock clock = nullptr);

  // `dedup` already holds the store. `clock` null: absl::Now (tests pass a
  // ManualClock's).
  ConsumerService(ConsumerConfig config, std::unique_ptr<DedupStore> dedup,
                  TimerWorker::Clock clock);

  std::string listen_address() const override {
    return config_.listen.primary_address();
  }
  absl::StatusOr<ListenSettings> listen_settings() const override {
    return config_.listen;
  }
  std::vector<grpc::Service*> grpc_services() override { return {this}; }
  void SetAuthPolicy(std::shared_ptr<AuthPolicy> auth) override {
    auth_ = std::move(auth);
  }
  absl::Status Start() override;
  void Drain() override;
  void Stop() override;

  // Subscribe, registered with the relay encoding of its responses.
  grpc::ServerBidiReactor<switchboard::v1::SubscribeRequest,
                          relay::SubscribeResponse>*
  OpenSubscription(grpc::CallbackServerContext* context);
  grpc::ServerUnaryReactor* ListQueues(
      grpc::CallbackServerContext* context,
      const switchboard::v1::ListQueuesRequest* request,
      switchboard::v1::ListQueuesResponse* response) override;
  grpc::ServerUnaryReactor* GetLinkStatus(
      grpc::CallbackServerContext* context,
      const switchboard::v1::GetLinkStatusRequest* request,
      switchboard::v1::LinkState* response) override;
  grpc::ServerUnaryReactor* ListLinkStatus(
      grpc::CallbackServerContext* context,
      const switchboard::v1::ListLinkStatusRequest* request,
      switchboard::v1::ListLinkStatusResponse* response) override;
  grpc::ServerWriteReactor<switchboard::v1::WatchLinkStatusResponse>*
  WatchLinkStatus(
      grpc::CallbackServerContext* context,
      const switchboard::v1::WatchLinkStatusRequest* request) override;

  // Bridge Consume calls not yet ended (one per subscription, until the
  // bridge has closed it).
  size_t open_bridge_calls() const { return bridge_calls_.size(); }

  // The link view; null when it is off.
  LinkView* link_view() { return link_view_.get(); }

  std::vector<std::shared_ptr<prometheus::Collectable>> metrics_collectables(
      const MetricsSettings& settings) override;

  // Runs ack deadlines and delayed nacks.
  TimerWorker& timers() { return timers_; }

  // What subscriptions did, per queue (what /metrics shows).
  const ConsumerCounters& counters() const { return bridge_calls_.counters(); }

 private:
  // Subscribe's place in the Consumer service's generated method table.
  static constexpr int kSubscribeMethodIndex = 0;
  // OK when auth is not configured or grants `action` to the caller.
  absl::Status Allow(const grpc::CallbackServerContext& context, Action action);

  const ConsumerConfig config_;
  // Set before the server starts; null: auth not configured.
  std::shared_ptr<AuthPolicy> auth_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<switchboard::v1::Bridge::Stub> bridge_;
  DedupWindows dedup_;
  StreamSet streams_;
  // After channel_, bridge_ and dedup_, which its calls use: destroyed
  // (every call ended) before them.
  BridgeCalls bridge_calls_;
  std::unique_ptr<LinkView> link_view_;
  std::shared_ptr<ConsumerMetrics> metrics_;
  // Last: stopped first, so no deadline fires during destruction.
  TimerWorker timers_;
};

}  // namespace switchboard::consumer

#endif  // SWITCHBOARD_SERVICES_CONSUMER_CONSUMER_SERVICE_H_
