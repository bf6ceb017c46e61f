#include "services/mq-bridge/transport/rabbitmq/confirm_tracker.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "services/common/status_macros.h"

namespace switchboard::bridge::rabbitmq {

uint64_t PendingBatch::Copies() const {
  uint64_t n = 0;
  for (const OutgoingMessage& m : messages) n += m.queues.size();
  return n;
}

std::pair<size_t, const std::string*> PendingBatch::At(uint64_t seq) const {
  uint64_t n = seq - first_seq;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (n < messages[i].queues.size()) return {i, &messages[i].queues[n]};
    n -= messages[i].queues.size();
  }
  return {0, nullptr};
}

ConfirmTracker::ConfirmTracker(uint64_t window,
                               RefusesByPolicy refuses_by_policy)
    : window_(window), refuses_by_policy_(std::move(refuses_by_policy)) {}

PendingBatch& ConfirmTracker::Add(PendingBatch batch) {
  pending_.push_back(std::move(batch));
  return pending_.back();
}

bool ConfirmTracker::HasRoomFor(uint64_t copies) const {
  return unconfirmed_ == 0 || unconfirmed_ + copies <= window_;
}

absl::Status ConfirmTracker::Publish(PendingBatch& batch, Send send) {
  batch.first_seq = next_seq_;
  for (const OutgoingMessage& m : batch.messages) {
    for (const std::string& q : m.queues) {
      SB_RETURN_IF_ERROR(send(m, q));
      ++next_seq_;
      ++unconfirmed_;
    }
  }
  batch.last_seq = next_seq_ - 1;
  batch.published = true;
  batch.nacked = false;
  batch.nacked_queue.clear();
  batch.refused.clear();
  batch.returned_queue.clear();
  return absl::OkStatus();
}

void ConfirmTracker::Restart() {
  next_seq_ = 1;
  unconfirmed_ = 0;
  confirmed_upto_ = 0;
  confirmed_above_.clear();
}

absl::Status ConfirmTracker::ForEachPending(
    absl::FunctionRef<absl::Status(PendingBatch&)> f) {
  for (PendingBatch& batch : pending_) SB_RETURN_IF_ERROR(f(batch));
  return absl::OkStatus();
}

void ConfirmTracker::Nack(PendingBatch& batch, uint64_t seq) {
  auto [message, queue] = batch.At(seq);
  if (queue == nullptr) return;
  if (!refuses_by_policy_(*queue)) {
    if (!batch.nacked) batch.nacked_queue = *queue;
    batch.nacked = true;
    return;
  }
  batch.refused.push_back(
      Refusal{message, *queue,
              absl::ResourceExhaustedError(absl::StrCat(
                  "queue '", *queue,
                  "' is full (x-max-length or x-max-length-bytes reached, "
                  "x-overflow reject-publish)"))});
}

void ConfirmTracker::NackUpTo(uint64_t seq, bool multiple) {
  for (PendingBatch& batch : pending_) {
    if (!batch.published || batch.first_seq > seq) break;
    if (!multiple) {
      if (batch.last_seq >= seq) {
        Nack(batch, seq);
        break;
      }
      continue;
    }
    // Every unconfirmed sequence number up to `seq`.
    for (uint64_t s = std::max(batch.first_seq, confirmed_upto_ + 1);
         s <= std::min(batch.last_seq, seq); ++s) {
      if (!confirmed_above_.contains(s)) Nack(batch, s);
    }
  }
}

void ConfirmTracker::MarkConfirmed(uint64_t seq, bool multiple) {
  if (multiple) {
    confirmed_upto_ = std::max(confirmed_upto_, seq);
  } else if (seq > confirmed_upto_) {
    confirmed_above_.insert(seq);
  }
  while (!confirmed_above_.empty() &&
         *confirmed_above_.begin() <= confirmed_upto_ + 1) {
    confirmed_upto_ = std::max(confirmed_upto_, *confirmed_above_.begin());
    confirmed_above_.erase(confirmed_above_.begin());
  }
}

void ConfirmTracker::AnswerConfirmed(Outcome& outcome) {
  // Batches are answered in order, once every message up to theirs is
  // confirmed.
  while (!pending_.empty() && pending_.front().published &&
         pending_.front().last_seq <= confirmed_upto_) {
    if (pending_.front().nacked && pending_.front().returned_queue.empty()) {
      // The broker could not store it (not a reject-publish refusal): it
      // stays pending, and with it every batch after it, to be published
      // again in order on a new connection.
      outcome.nacked_queue = pending_.front().nacked_queue;
      break;
    }
    PendingBatch batch = std::move(pending_.front());
    pending_.pop_front();
    if (!batch.returned_queue.empty()) {
      batch.done(absl::NotFoundError(absl::StrCat(
          "queue '", batch.returned_queue,
          "' no longer exists on the broker (it expired, or was deleted); "
          "declare it again")));
    } else {
      std::sort(batch.refused.begin(), batch.refused.end(),
                [](const Refusal& a, const Refusal& b) {
                  return a.message < b.message;
                });
      ++outcome.stored;
      batch.done(PublishResult(absl::OkStatus(), std::move(batch.refused)));
    }
  }
}

ConfirmTracker::Outcome ConfirmTracker::Confirm(uint64_t seq, bool multiple,
                                                bool ack) {
  if (!ack) NackUpTo(seq, multiple);
  MarkConfirmed(seq, multiple);
  Outcome outcome;
  AnswerConfirmed(outcome);
  unconfirmed_ = next_seq_ - 1 - confirmed_upto_ - confirmed_above_.size();
  return outcome;
}

bool ConfirmTracker::Returned(const std::string& queue, const std::string& id) {
  for (PendingBatch& batch : pending_) {
    if (!batch.published) break;
    for (const OutgoingMessage& m : batch.messages) {
      if (m.id != id) continue;
      for (const std::string& q : m.queues) {
        if (q != queue) continue;
        batch.returned_queue = queue;
        return true;
      }
    }
  }
  return false;
}

void ConfirmTracker::FailAll(const absl::Status& status) {
  while (!pending_.empty()) {
    PendingBatch batch = std::move(pending_.front());
    pending_.pop_front();
    batch.done(status);
  }
  unconfirmed_ = 0;
}

}  // namespace switchboard::bridge::rabbitmq
