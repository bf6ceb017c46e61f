#ifndef SWITCHBOARD_TESTS_TESTING_DELIVERY_LEDGER_H_
#define SWITCHBOARD_TESTS_TESTING_DELIVERY_LEDGER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace switchboard::testing {

// Which event ids producers had accepted and which an app received, for
// fault tests that count losses and duplicates. Thread-safe.
class DeliveryLedger {
 public:
  struct Tally {
    uint64_t accepted = 0;
    uint64_t received = 0;    // distinct ids
    uint64_t lost = 0;        // accepted, never received
    uint64_t duplicated = 0;  // ids received more than once
    // Of `duplicated`: ids whose later copies all came flagged
    // `redelivered` (given back unacked) rather than as new messages.
    uint64_t duplicated_redelivered = 0;
    std::vector<std::string> some_lost;  // up to 10
    // Up to 10, each "id@+<first copy>/+<second copy>" (times since the
    // ledger began) to match against a fault schedule's log.
    std::vector<std::string> some_duplicated;
    // "accepted=N received=N lost=N duplicated=N": the stable line that
    // tools/kill9.sh and the tests print.
    std::string Line() const;
    // The samples, for failure messages.
    std::string Details() const;
  };

  void Accepted(const std::string& id);
  void Received(const std::string& id, bool redelivered);
  // Every accepted id was received at least once.
  bool AllAcceptedReceived();
  uint64_t accepted();
  Tally Count();

 private:
  struct Entry {
    bool accepted = false;
    uint32_t received = 0;
    bool repeat_not_redelivered = false;
    absl::Duration first_seen;
    absl::Duration first_repeat;
  };
  const absl::Time start_ = absl::Now();
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> ids_ ABSL_GUARDED_BY(mu_);
  uint64_t accepted_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t accepted_received_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_DELIVERY_LEDGER_H_
