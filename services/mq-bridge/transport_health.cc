#include "services/mq-bridge/transport_health.h"

#include <algorithm>
#include <optional>
#include <utility>

namespace switchboard::bridge {

TransportHealth::TransportHealth(absl::Duration timeout) : timeout_(timeout) {}

TransportHealth::~TransportHealth() { StopWatching(); }

uint64_t TransportHealth::Begin() {
  absl::MutexLock lock(&mu_);
  const uint64_t token = next_token_++;
  // The watcher looks at the oldest call at least every timeout_, so a new
  // call needs no wake-up (this is the publish path).
  in_flight_.emplace(token, absl::Now());
  return token;
}

void TransportHealth::End(uint64_t token, const absl::Status& status,
                          bool answered) {
  absl::MutexLock lock(&mu_);
  if (token < current_from_) return;
  const bool was_failed = failed_;
  auto it = in_flight_.find(token);
  // Only the end of a call that had timed out can make the transport
  // healthy again by itself.
  const bool was_stalled =
      it != in_flight_.end() && absl::Now() - it->second >= timeout_;
  if (it != in_flight_.end()) in_flight_.erase(it);
  if (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)) {
    // Unreachable, or a driver gave up waiting for its backend.
    failed_ = true;
  } else if (answered) {
    // Any other answer came from the backend: a NotFound queue, a full
    // one, a refused option.
    failed_ = false;
  }
  if (failed_ != was_failed || was_stalled) ++changes_;
}

void TransportHealth::Reset() {
  absl::MutexLock lock(&mu_);
  current_from_ = next_token_;
  in_flight_.clear();
  failed_ = false;
  ++changes_;
}

bool TransportHealth::Healthy(absl::Time now) const {
  absl::MutexLock lock(&mu_);
  return HealthyLocked(now);
}

bool TransportHealth::HealthyLocked(absl::Time now) const {
  if (failed_) return false;
  return in_flight_.empty() || now - in_flight_.begin()->second < timeout_;
}

void TransportHealth::StartWatching(std::function<void(bool)> report) {
  watcher_ = std::thread([this, report = std::move(report)] { Watch(report); });
}

void TransportHealth::StopWatching() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (watcher_.joinable()) watcher_.join();
}

void TransportHealth::Watch(std::function<void(bool)> report) {
  std::optional<bool> reported;
  for (;;) {
    bool healthy;
    {
      absl::MutexLock lock(&mu_);
      for (;;) {
        if (stopping_) return;
        const absl::Time now = absl::Now();
        healthy = HealthyLocked(now);
        if (!reported.has_value() || healthy != *reported) break;
        // Nothing to say until a call fails or a timed-out one ends, or
        // the oldest call in flight reaches the timeout: look again then,
        // or after timeout_ at the latest (calls begin without a wake-up).
        absl::Time deadline = absl::InfiniteFuture();
        if (healthy) {
          deadline = now + timeout_;
          if (!in_flight_.empty()) {
            deadline = std::min(deadline, in_flight_.begin()->second + timeout_);
          }
        }
        const uint64_t seen = changes_;
        auto woken = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stopping_ || changes_ != seen;
        };
        mu_.AwaitWithDeadline(absl::Condition(&woken), deadline);
      }
    }
    report(healthy);
    reported = healthy;
  }
}

MonitoredTransport::MonitoredTransport(std::unique_ptr<Transport> inner,
                                       std::shared_ptr<TransportHealth> health)
    : inner_(std::move(inner)), health_(std::move(health)) {}

absl::Status MonitoredTransport::DeclareQueue(absl::string_view name,
                                              const QueueOptions& options) {
  const uint64_t token = health_->Begin();
  absl::Status status = inner_->DeclareQueue(name, options);
  // Drivers answer a queue they already declared from memory.
  health_->End(token, status, /*answered=*/false);
  return status;
}

void MonitoredTransport::Publish(std::vector<OutgoingMessage> batch,
                                 PublishCallback done) {
  size_t messages = 0;
  for (const OutgoingMessage& m : batch) messages += m.queues.size();
  const uint64_t token = health_->Begin();
  inner_->Publish(
      std::move(batch),
      [health = health_, token, answered = messages > 0,
       done = std::move(done)](auto result) {
        const absl::Status& status = result;
        health->End(token, status, answered);
        done(std::move(result));
      });
}

absl::StatusOr<std::unique_ptr<Subscription>> MonitoredTransport::Subscribe(
    const SubscribeOptions& options, DeliveryHandler handler) {
  const uint64_t token = health_->Begin();
  auto subscription = inner_->Subscribe(options, std::move(handler));
  health_->End(token, subscription.status(), /*answered=*/true);
  return subscription;
}

absl::StatusOr<std::vector<QueueStats>> MonitoredTransport::GetQueueStats(
    absl::Span<const std::string> queues) {
  const uint64_t token = health_->Begin();
  auto stats = inner_->GetQueueStats(queues);
  health_->End(token, stats.status(), /*answered=*/true);
  return stats;
}

}  // namespace switchboard::bridge
