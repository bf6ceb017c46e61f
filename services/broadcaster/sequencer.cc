#include "services/broadcaster/sequencer.h"

namespace switchboard::broadcaster {

uint64_t Sequencer::Assign(const std::vector<switchboard::v1::Event*>& events) {
  absl::MutexLock lock(&sequence_mu_);
  for (switchboard::v1::Event* e : events) {
    uint64_t& last = sequences_[e->source()];
    if (e->sequence() == 0) {
      e->set_sequence(++last);
    } else if (e->sequence() > last) {
      last = e->sequence();
    }
  }
  return next_ticket_++;
}

size_t Sequencer::InTurn(uint64_t ticket, absl::FunctionRef<size_t()> push) {
  absl::MutexLock lock(&turn_mu_);
  auto turn = [this, ticket]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(turn_mu_) {
    return serving_ticket_ == ticket;
  };
  turn_mu_.Await(absl::Condition(&turn));
  const size_t pushed = push();
  ++serving_ticket_;
  return pushed;
}

}  // namespace switchboard::broadcaster
