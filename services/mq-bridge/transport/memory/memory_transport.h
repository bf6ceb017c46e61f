#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_MEMORY_MEMORY_TRANSPORT_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_MEMORY_MEMORY_TRANSPORT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "services/common/config.h"
#include "services/mq-bridge/transport/transport.h"

namespace switchboard::bridge {

namespace memory {
class Broker;
}  // namespace memory

// The embedded transport, registered as "memory": FIFO queues in the
// bridge's own memory. No broker to run, nothing survives a restart of the
// bridge. Acks, redelivery of unacked messages, competing consumers (round
// robin), last-value queues and per-queue limits (max length and bytes,
// drop-head / reject-publish / dead-letter, message TTL, idle expiry)
// behave as they do on RabbitMQ.
//
// One mutex guards all queues; it is taken once per published batch and
// once per ack batch, never per message, and never while a handler runs.
//
// Users create it through the TransportRegistry or Create; drivers that
// keep their queues in one (zeromq) construct it with their Settings. The
// queues are in memory_queue_store.h, subscriptions and dispatch in
// memory_subscription.h and memory_broker.h.
class MemoryTransport final : public Transport {
 public:
  // What happens to a message that would take a queue past the
  // transport-wide bounds below (per-queue limits have their own policy,
  // QueueLimits::overflow).
  enum class Overflow {
    // That message is refused for that queue (a Refusal), unless the
    // queue's own policy drops from the head, which then makes room.
    kReject,
    // Each message that does not fit first drops the oldest ready messages
    // of its queue, and is dropped itself when none is ready (unacked ones
    // stay); counted by dropped(). For drivers that use this transport as
    // the buffer of a sender they cannot push back on (zeromq).
    kDropOldest,
  };

  struct Settings {
    // Ready + unacked messages one queue may hold, whatever its limits.
    uint64_t max_queue_depth = 1'000'000;
    // Payload bytes all queues together may hold (a payload in two queues
    // counts twice).
    uint64_t max_total_bytes = uint64_t{1} << 30;
    // Deliveries without an ack after which a message moves to
    // "dead.<queue>" instead of coming back (Capabilities::max_deliveries,
    // as RabbitMQ's driver does); 0 never.
    uint32_t max_deliveries = 10;
    // Not a `transport.memory` setting.
    Overflow overflow = Overflow::kReject;
    // How often, at most, idle queues are looked for (QueueLimits::expires).
    absl::Duration expiry_sweep = absl::Milliseconds(100);
  };

  // Reads `transport.memory` settings: max_queue_depth, max_total_bytes,
  // max_deliveries.
  static absl::StatusOr<Settings> ParseSettings(const ConfigNode& settings);
  static absl::StatusOr<std::unique_ptr<Transport>> Create(
      const ConfigNode& settings);

  explicit MemoryTransport(Settings settings);
  ~MemoryTransport() override;

  MemoryTransport(const MemoryTransport&) = delete;
  MemoryTransport& operator=(const MemoryTransport&) = delete;

  absl::string_view driver() const override { return "memory"; }
  Capabilities capabilities() const override;
  absl::Status DeclareQueue(absl::string_view name,
                            const QueueOptions& options) override;
  void Publish(std::vector<OutgoingMessage> batch,
               PublishCallback done) override;
  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(
      const SubscribeOptions& options, DeliveryHandler handler) override;
  absl::StatusOr<std::vector<QueueStats>> GetQueueStats(
      absl::Span<const std::string> queues) override;

  // Messages dropped so far to make room (Overflow::kDropOldest).
  uint64_t dropped() const;

 private:
  const Settings settings_;
  const std::unique_ptr<memory::Broker> broker_;
};

}  // namespace switchboard::bridge

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_MEMORY_MEMORY_TRANSPORT_H_
