#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_MEMORY_MEMORY_BROKER_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_MEMORY_MEMORY_BROKER_H_

// Internal to the memory driver: users go through memory_transport.h.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "services/mq-bridge/transport/memory/memory_queue_store.h"
#include "services/mq-bridge/transport/memory/memory_transport.h"
#include "services/mq-bridge/transport/transport.h"

namespace switchboard::bridge::memory {

class MemorySubscription;

// What a MemoryTransport does: its QueueStore and the subscriptions that
// consume from it, and the dispatch of ready messages to them.
//
// One mutex guards all queues and subscriptions; it is taken once per
// published batch and once per ack batch, never per message, and never
// while a handler runs.
class Broker {
 public:
  explicit Broker(const MemoryTransport::Settings& settings);

  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // The Transport methods of MemoryTransport (transport.h).
  absl::Status DeclareQueue(absl::string_view name, const QueueOptions& options)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Publish(std::vector<OutgoingMessage> batch, PublishCallback done)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(
      const SubscribeOptions& options, DeliveryHandler handler)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::vector<QueueStats>> GetQueueStats(
      absl::Span<const std::string> queues) ABSL_LOCKS_EXCLUDED(mu_);
  // MemoryTransport::dropped().
  uint64_t dropped() const ABSL_LOCKS_EXCLUDED(mu_);

  // For MemorySubscription.
  absl::Mutex& mu() const ABSL_LOCK_RETURNED(mu_) { return mu_; }
  QueueStore& store() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return store_; }

  // Hands `queue`'s ready messages to its consumers that have credit, round
  // robin. Subscriptions that got messages and need a dispatcher are
  // appended to `to_run`, already marked as dispatching.
  void DispatchLocked(Queue* queue, std::vector<MemorySubscription*>* to_run)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Calls the handlers of `to_run`; must be called without mu_ held.
  void RunDispatchers(const std::vector<MemorySubscription*>& to_run)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  QueueStore store_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard::bridge::memory

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_MEMORY_MEMORY_BROKER_H_
