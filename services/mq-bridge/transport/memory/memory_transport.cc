#include "services/mq-bridge/transport/memory/memory_transport.h"

#include <utility>

#include "services/common/status_macros.h"
#include "services/mq-bridge/transport/memory/memory_broker.h"
#include "services/mq-bridge/transport/registry.h"

namespace switchboard::bridge {

absl::StatusOr<MemoryTransport::Settings> MemoryTransport::ParseSettings(
    const ConfigNode& config) {
  Settings settings;
  SB_RETURN_IF_ERROR(config.Get("max_queue_depth", &settings.max_queue_depth));
  SB_RETURN_IF_ERROR(config.Get("max_total_bytes", &settings.max_total_bytes));
  SB_RETURN_IF_ERROR(config.Get("max_deliveries", &settings.max_deliveries));
  SB_RETURN_IF_ERROR(config.CheckAllKeysKnown());
  if (settings.max_queue_depth == 0) {
    return config.Error("max_queue_depth", "must be at least 1");
  }
  if (settings.max_total_bytes == 0) {
    return config.Error("max_total_bytes", "must be at least 1");
  }
  return settings;
}

absl::StatusOr<std::unique_ptr<Transport>> MemoryTransport::Create(
    const ConfigNode& config) {
  SB_ASSIGN_OR_RETURN(Settings settings, ParseSettings(config));
  return std::make_unique<MemoryTransport>(settings);
}

MemoryTransport::MemoryTransport(Settings settings)
    : settings_(settings),
      broker_(std::make_unique<memory::Broker>(settings_)) {}

MemoryTransport::~MemoryTransport() = default;

Capabilities MemoryTransport::capabilities() const {
  Capabilities caps;
  caps.durable = false;
  caps.acks = true;
  caps.last_value = true;
  caps.ordered_requeue = true;
  caps.confirmed_delivery = true;
  caps.queue_limits = true;
  caps.drop_counters = true;
  caps.exact_limits = true;
  caps.max_deliveries = settings_.max_deliveries;
  return caps;
}

absl::Status MemoryTransport::DeclareQueue(absl::string_view name,
                                           const QueueOptions& options) {
  return broker_->DeclareQueue(name, options);
}

void MemoryTransport::Publish(std::vector<OutgoingMessage> batch,
                              PublishCallback done) {
  broker_->Publish(std::move(batch), std::move(done));
}

absl::StatusOr<std::unique_ptr<Subscription>> MemoryTransport::Subscribe(
    const SubscribeOptions& options, DeliveryHandler handler) {
  return broker_->Subscribe(options, std::move(handler));
}

absl::StatusOr<std::vector<QueueStats>> MemoryTransport::GetQueueStats(
    absl::Span<const std::string> queues) {
  return broker_->GetQueueStats(queues);
}

uint64_t MemoryTransport::dropped() const { return broker_->dropped(); }

SB_REGISTER_DEFAULT_TRANSPORT("memory", MemoryTransport::Create,
                              MemoryTransport::ParseSettings);

}  // namespace switchboard::bridge
