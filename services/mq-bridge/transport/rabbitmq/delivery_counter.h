#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_DELIVERY_COUNTER_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_DELIVERY_COUNTER_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace switchboard::bridge::rabbitmq {

// Counts the deliveries of events that come back unacked, for
// `max_deliveries`: an event delivered more often than that is moved to
// its dead-letter queue instead of looping forever. Classic queues only
// say that a delivery is a redelivery (quorum queues count them in
// x-delivery-count), so the transport counts, by queue and event id.
// Memory is bounded: past `capacity` events the oldest counts are
// forgotten first. Thread-safe: the subscriptions of a transport share it.
class DeliveryCounter {
 public:
  // Events counted at once by default.
  static constexpr size_t kDefaultCapacity = 100000;

  explicit DeliveryCounter(size_t capacity = kDefaultCapacity)
      : capacity_(capacity) {}

  // Counts a redelivery of event `id` from `queue`; returns how many
  // deliveries there were, the first (never counted) included.
  uint32_t Count(const std::string& queue, const std::string& id);
  // The event is settled for good: its count is no longer needed.
  void Forget(const std::string& queue, const std::string& id);

 private:
  const size_t capacity_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, uint32_t> counts_ ABSL_GUARDED_BY(mu_);
  // Keys of counts_ in the order they were first counted.
  std::deque<std::string> order_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard::bridge::rabbitmq

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_DELIVERY_COUNTER_H_
