#ifndef SWITCHBOARD_SERVICES_BROADCASTER_CONFIRMATIONS_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_CONFIRMATIONS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"

namespace switchboard::broadcaster {

// The producer batches published with acceptance CONFIRMED that wait for
// the bridge. Each event of such a batch has a token; every copy of the
// event (one per buffered RoutedEvent) carries it through the buffer and
// the forwarder, and settles it once: confirmed by the bridge, or lost
// (dropped from a full buffer, refused by the bridge or by one of its
// queues). When every copy of every event is settled the batch's callback
// runs, with each event's outcome.
//
// Token 0 means "nobody waits": BUFFERED events carry it, and settling it
// does nothing. Thread-safe; callbacks run on the settling thread, outside
// the lock.
class Confirmations {
 public:
  // Per event of the batch: OK (every copy confirmed; also for an event
  // with no copies) or why a copy was lost (the first reason).
  using Done = std::function<void(std::vector<absl::Status> outcomes)>;

  // Reserves tokens for a batch of `events` events: event i's token is
  // the result plus i. Copies may settle before Arm.
  uint64_t Reserve(size_t events);
  // How many copies of each event were buffered (0: none, settled at
  // once), and what to call when all are settled; may call it at once.
  void Arm(uint64_t base, std::vector<uint32_t> copies, Done done);

  // One copy of each token's event reached its queues.
  void Confirm(absl::Span<const uint64_t> tokens);
  // One copy of each token's event will never reach them, because of
  // `why`.
  void Lose(absl::Span<const uint64_t> tokens, const absl::Status& why);

  // Batches not yet answered.
  size_t waiting() const;

 private:
  struct Waiter {
    std::vector<uint32_t> settled;
    std::vector<absl::Status> outcomes;
    std::vector<uint32_t> copies;
    size_t unsettled_events = 0;
    bool armed = false;
    Done done;
  };
  // Settles one copy of `token`'s event; returns the callback to run when
  // that completed its batch.
  void Settle(uint64_t token, const absl::Status* why,
              std::vector<std::pair<Done, std::vector<absl::Status>>>* ready)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes the batch at `it` if complete, adding its callback to `ready`.
  void MaybeComplete(
      std::map<uint64_t, Waiter>::iterator it,
      std::vector<std::pair<Done, std::vector<absl::Status>>>* ready)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void Run(
      std::vector<std::pair<Done, std::vector<absl::Status>>>& ready);

  mutable absl::Mutex mu_;
  uint64_t next_ ABSL_GUARDED_BY(mu_) = 1;
  // By base token.
  std::map<uint64_t, Waiter> waiters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_CONFIRMATIONS_H_
