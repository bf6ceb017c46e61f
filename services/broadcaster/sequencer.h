#ifndef SWITCHBOARD_SERVICES_BROADCASTER_SEQUENCER_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_SEQUENCER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "switchboard/v1/event.pb.h"

namespace switchboard::broadcaster {

// Per-source sequence numbers, and the order in which numbered batches
// reach the buffer: a batch takes a ticket when it is numbered and pushes
// in ticket order, so one source's sequence numbers stay in order in the
// buffer across all its streams. Thread-safe.
class Sequencer {
 public:
  // Gives events without a sequence the next number of their source (an
  // event that brings its own moves its source's count up to it). Returns
  // the batch's ticket.
  uint64_t Assign(const std::vector<switchboard::v1::Event*>& events)
      ABSL_LOCKS_EXCLUDED(sequence_mu_);

  // Runs `push` once every earlier ticket has had its turn, and returns
  // what it returns. Every ticket must take its turn (possibly pushing
  // nothing), or later ones wait forever.
  size_t InTurn(uint64_t ticket, absl::FunctionRef<size_t()> push)
      ABSL_LOCKS_EXCLUDED(turn_mu_);

 private:
  absl::Mutex sequence_mu_;
  absl::flat_hash_map<std::string, uint64_t> sequences_
      ABSL_GUARDED_BY(sequence_mu_);
  uint64_t next_ticket_ ABSL_GUARDED_BY(sequence_mu_) = 0;
  absl::Mutex turn_mu_;
  uint64_t serving_ticket_ ABSL_GUARDED_BY(turn_mu_) = 0;
};

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_SEQUENCER_H_
