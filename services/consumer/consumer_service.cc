#include "services/consumer/consumer_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "services/common/client_channel.h"
#include "services/common/logging.h"
#include "services/common/status_macros.h"

namespace switchboard::consumer {
namespace {

// How long Stop waits for the bridge to end the closed calls before it
// cancels them.
constexpr absl::Duration kBridgeCloseGrace = absl::Seconds(5);

// The link view of `config`; null when it is off.
std::unique_ptr<LinkView> MakeLinkView(const ConsumerConfig& config,
                                       std::shared_ptr<grpc::Channel> channel) {
  if (config.links.queue_prefix.empty()) return nullptr;
  return std::make_unique<LinkView>(config.links, std::move(channel));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ConsumerService>> ConsumerService::Create(
    const ConfigNode& config, const std::string& listen_override) {
  SB_ASSIGN_OR_RETURN(ConsumerConfig parsed,
                      ConsumerConfig::Parse(config, listen_override));
  return Create(std::move(parsed));
}

std::vector<std::shared_ptr<prometheus::Collectable>>
ConsumerService::metrics_collectables(const MetricsSettings& settings) {
  if (metrics_ == nullptr) {
    bridge_calls_.counters().set_max_label_values(settings.max_label_values);
    ConsumerMetrics::Sources sources;
    sources.counters = &bridge_calls_.counters();
    sources.subscriptions = [this] { return bridge_calls_.size(); };
    sources.links = [this]() -> size_t {
      return link_view_ != nullptr ? link_view_->List().size() : 0;
    };
    metrics_ = std::make_shared<ConsumerMetrics>(std::move(sources));
  }
  return {metrics_};
}

absl::Status ConsumerService::CheckConfig(const ConfigNode& config,
                                          const std::string& listen_override) {
  return ConsumerConfig::Parse(config, listen_override).status();
}

absl::StatusOr<std::unique_ptr<ConsumerService>> ConsumerService::Create(
    ConsumerConfig config, TimerWorker::Clock clock) {
  std::unique_ptr<DedupStore> store;
  if (config.dedup_store == "file") {
    auto opened = DedupStore::Open(config.dedup_directory, config.dedup_window);
    if (!opened.ok()) {
      return absl::Status(
          opened.status().code(),
          absl::StrCat("dedup.directory: ", opened.status().message()));
    }
    store = *std::move(opened);
    const DedupStore::Stats stats = store->stats();
    Logger("consumer")
        ->info(
            "dedup store {}: {} acked ids loaded ({} torn tails, {} corrupt "
            "records dropped)",
            store->path(), stats.loaded, stats.torn_tails,
            stats.corrupt_records);
  }
  return std::make_unique<ConsumerService>(std::move(config), std::move(store),
                                           std::move(clock));
}

ConsumerService::ConsumerService(ConsumerConfig config,
                                 std::unique_ptr<DedupStore> dedup,
                                 TimerWorker::Clock clock)
    : config_(std::move(config)),
      // Keepalive: a bridge that died without closing its connections (host
      // gone, process frozen) ends the subscriptions within keepalive_time +
      // keepalive_timeout, so apps subscribe again.
      channel_(CreateClientChannel(config_.bridge_address,
                                   config_.bridge_credentials,
                                   config_.limits.InternalChannelArguments())),
      bridge_(switchboard::v1::Bridge::NewStub(channel_)),
      dedup_(config_.dedup_window, std::move(dedup)),
      link_view_(MakeLinkView(config_, channel_)),
      timers_(std::move(clock)),
      subscribe_({&config_, bridge_.get(), &dedup_, &bridge_calls_, &timers_}),
      list_queues_(bridge_.get()),
      get_link_status_(link_view_.get()),
      list_link_status_(link_view_.get()),
      watch_link_status_(link_view_.get()),
      rpcs_({&subscribe_, &list_queues_, &get_link_status_, &list_link_status_,
             &watch_link_status_}) {}

absl::Status ConsumerService::Start() {
  if (link_view_ != nullptr) link_view_->Start();
  return absl::OkStatus();
}

void ConsumerService::Drain() {
  subscribe_.CloseAll();
  // Ends the watches, and hands the held statuses back to the bridge now
  // rather than after the grace period.
  if (link_view_ != nullptr) link_view_->Stop();
}

void ConsumerService::Stop() {
  if (link_view_ != nullptr) link_view_->Stop();
  // Every app stream has ended, so every bridge call was asked to close:
  // the bridge returns what was unacked, then ends it. One that has not
  // within the grace period (a hung bridge) is cancelled.
  bridge_calls_.CloseAll(kBridgeCloseGrace);
}

}  // namespace switchboard::consumer
