#ifndef SWITCHBOARD_SERVICES_BROADCASTER_QUEUE_BUDGET_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_QUEUE_BUDGET_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace switchboard::broadcaster {

// Caps the queues that producer input creates (app queues per source, link
// queues per link id, region queues per region name): each name seen costs
// one bridge queue, so without a cap a producer inventing sources could
// make the bridge and the broker hold any number of them.
//
// A name not used for `idle` is forgotten when room is needed (its queue
// may long have expired at the transport). Thread-safe; a known name costs a
// shared lock and an atomic store.
class QueueBudget {
 public:
  struct Limits {
    // Distinct names at most; 0 = no cap.
    uint64_t max_queues = 10000;
    // Names unused this long make room for new ones.
    absl::Duration idle = absl::Hours(24);
  };

  explicit QueueBudget(Limits limits) : limits_(limits) {}

  // OK when `queue` is known, or there is room for it (it is then known);
  // ResourceExhausted naming the setting otherwise.
  absl::Status Admit(const std::string& queue, absl::Time now);

  // Applies new limits (a reload); known names stay.
  void SetLimits(Limits limits);

  // Names known now.
  size_t size() const;

 private:
  // Forgets names idle past the limit; returns how many.
  size_t ForgetIdleLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  Limits limits_ ABSL_GUARDED_BY(mu_);
  // Last use, Unix nanoseconds; updated under the shared lock.
  absl::node_hash_map<std::string, std::atomic<int64_t>> last_used_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_QUEUE_BUDGET_H_
