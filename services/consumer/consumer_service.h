#ifndef SWITCHBOARD_SERVICES_CONSUMER_CONSUMER_SERVICE_H_
#define SWITCHBOARD_SERVICES_CONSUMER_CONSUMER_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/common/auth_policy.h"
#include "services/common/config.h"
#include "services/common/listen_settings.h"
#include "services/common/server.h"
#include "services/consumer/bridge_call.h"
#include "services/consumer/consumer_config.h"
#include "services/consumer/consumer_metrics.h"
#include "services/consumer/consumer_rpc_service.h"
#include "services/consumer/dedup_window.h"
#include "services/consumer/link_status_handlers.h"
#include "services/consumer/link_view.h"
#include "services/consumer/list_queues_handler.h"
#include "services/consumer/subscribe_handler.h"
#include "services/consumer/timer_worker.h"
#include "switchboard/v1/bridge.grpc.pb.h"

namespace switchboard::consumer {

// Where applications subscribe. Each Subscribe stream is relayed to one
// bridge Consume stream, so a subscriber's credit window is the bridge's
// prefetch and its unacked deliveries return to their queues whenever
// either stream ends. Unless `links.queue_prefix` is empty, a LinkView also
// keeps the newest status of every link for GetLinkStatus, ListLinkStatus
// and WatchLinkStatus, and Subscribe refuses the link queues it reads.
// Thread-safe.
//
// This class is the consumer's lifecycle: its settings (consumer_config.h),
// the channel to the bridge, the dedup store, the bridge calls, the link
// view, the timers and metrics. Each RPC of switchboard.v1.Consumer is a
// handler class of its own (subscribe_handler.h, list_queues_handler.h,
// link_status_handlers.h), composed here and served through
// ConsumerRpcService.
class ConsumerService final : public ServiceBase {
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
  std::vector<grpc::Service*> grpc_services() override { return {&rpcs_}; }
  void SetAuthPolicy(std::shared_ptr<AuthPolicy> auth) override {
    rpcs_.SetAuthPolicy(std::move(auth));
  }
  absl::Status Start() override;
  void Drain() override;
  void Stop() override;

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
  const ConsumerConfig config_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<switchboard::v1::Bridge::Stub> bridge_;
  DedupWindows dedup_;
  // After channel_, bridge_ and dedup_, which its calls use: destroyed
  // (every call ended) before them.
  BridgeCalls bridge_calls_;
  // Null when `links.queue_prefix` is empty.
  std::unique_ptr<LinkView> link_view_;
  std::shared_ptr<ConsumerMetrics> metrics_;
  // After the calls and the view: stopped before them, so no deadline fires
  // during their destruction.
  TimerWorker timers_;
  // One handler per RPC, and the gRPC service routing to them.
  SubscribeHandler subscribe_;
  ListQueuesHandler list_queues_;
  GetLinkStatusHandler get_link_status_;
  ListLinkStatusHandler list_link_status_;
  WatchLinkStatusHandler watch_link_status_;
  ConsumerRpcService rpcs_;
};

}  // namespace switchboard::consumer

#endif  // SWITCHBOARD_SERVICES_CONSUMER_CONSUMER_SERVICE_H_
