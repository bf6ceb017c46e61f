#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_CONFORMANCE_DELIVERY_COLLECTOR_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_CONFORMANCE_DELIVERY_COLLECTOR_H_

#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/mq-bridge/transport/transport.h"

namespace switchboard::bridge::testing {

// Gathers a subscription's deliveries and lets a test wait for a count.
// Thread-safe.
class DeliveryCollector {
 public:
  DeliveryHandler handler() {
    return [this](std::vector<Delivery> batch) {
      absl::MutexLock lock(&mu_);
      ++batches_;
      for (Delivery& d : batch) got_.push_back(std::move(d));
    };
  }

  // Waits until at least `n` deliveries arrived, or `timeout` (generous: a
  // broker on a loaded 2-core machine is slow, and a passing run never
  // waits this long); returns them all.
  std::vector<Delivery> WaitFor(size_t n,
                                absl::Duration timeout = absl::Seconds(20)) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return got_.size() >= n;
    };
    mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
    return got_;
  }

  size_t size() {
    absl::MutexLock lock(&mu_);
    return got_.size();
  }

  // How many times the handler ran.
  size_t batches() {
    absl::MutexLock lock(&mu_);
    return batches_;
  }

 private:
  absl::Mutex mu_;
  std::vector<Delivery> got_ ABSL_GUARDED_BY(mu_);
  size_t batches_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace switchboard::bridge::testing

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_CONFORMANCE_DELIVERY_COLLECTOR_H_
