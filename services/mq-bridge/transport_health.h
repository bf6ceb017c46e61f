#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_HEALTH_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_HEALTH_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/mq-bridge/transport/transport.h"

namespace switchboard::bridge {

// Whether the transport can do its job, judged from the calls the bridge
// makes to it: the Transport interface reports no connection state. A call
// that fails with UNAVAILABLE or DEADLINE_EXCEEDED (a driver gave up waiting
// for its backend), or that has been waiting longer than `timeout` (the
// rabbitmq driver holds publishes while it reconnects), means it cannot; a
// call that only the transport's backend could have answered
// (a publish confirmed, queue stats read, a subscription opened) means it
// can again. Thread-safe.
class TransportHealth {
 public:
  explicit TransportHealth(absl::Duration timeout);
  // Stops watching.
  ~TransportHealth();

  // A call starts; pass the token to End.
  uint64_t Begin();
  // The call ended with `status`. `answered`: an OK status proves the
  // backend answered (false for calls a driver may answer from memory).
  void End(uint64_t token, const absl::Status& status, bool answered);
  // A new transport took over (reload): calls to the old one and what
  // they said no longer count.
  void Reset();

  // Whether the transport can do its job, as of `now`.
  bool Healthy(absl::Time now) const;

  // Calls `report` with the health now, then with each change, from an
  // owned thread, until StopWatching. `report` must not block for long.
  void StartWatching(std::function<void(bool healthy)> report);
  // Idempotent.
  void StopWatching();

 private:
  bool HealthyLocked(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Watch(std::function<void(bool)> report);

  const absl::Duration timeout_;
  mutable absl::Mutex mu_;
  uint64_t next_token_ ABSL_GUARDED_BY(mu_) = 1;
  // Tokens below this belong to a transport that was replaced.
  uint64_t current_from_ ABSL_GUARDED_BY(mu_) = 1;
  // Calls in flight: token -> start. Tokens grow, so the first is oldest.
  absl::btree_map<uint64_t, absl::Time> in_flight_ ABSL_GUARDED_BY(mu_);
  // The last call that said anything failed with UNAVAILABLE.
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
  // Bumped on every change, to wake the watcher.
  uint64_t changes_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread watcher_;
};

// A Transport that reports each call it forwards to a TransportHealth.
class MonitoredTransport final : public Transport {
 public:
  MonitoredTransport(std::unique_ptr<Transport> inner,
                     std::shared_ptr<TransportHealth> health);

  absl::string_view driver() const override { return inner_->driver(); }
  Capabilities capabilities() const override {
    return inner_->capabilities();
  }
  std::string connected_to() const override { return inner_->connected_to(); }
  absl::Status DeclareQueue(absl::string_view name,
                            const QueueOptions& options) override;
  void Publish(std::vector<OutgoingMessage> batch,
               PublishCallback done) override;
  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(
      const SubscribeOptions& options, DeliveryHandler handler) override;
  absl::StatusOr<std::vector<QueueStats>> GetQueueStats(
      absl::Span<const std::string> queues) override;

 private:
  const std::unique_ptr<Transport> inner_;
  // Shared with the callbacks of publishes still in flight.
  const std::shared_ptr<TransportHealth> health_;
};

}  // namespace switchboard::bridge

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_HEALTH_H_
