#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_CONFIRM_TRACKER_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_CONFIRM_TRACKER_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "services/mq-bridge/transport/transport.h"

namespace switchboard::bridge::rabbitmq {

// A batch the publisher holds until the broker confirmed all of it.
struct PendingBatch {
  std::vector<OutgoingMessage> messages;
  PublishCallback done;
  // Sequence numbers on the current publish channel, once published: one
  // per (message, queue), in message then queue order.
  bool published = false;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  // A nack for a queue that does not refuse by policy: send it all again.
  bool nacked = false;
  // The queue of the first nack, for the error.
  std::string nacked_queue;
  // Nacks of reject-publish queues: final, per message and queue.
  std::vector<Refusal> refused;
  // A message the broker returned as unroutable: its queue is gone
  // (x-expires); the batch fails with NotFound, to be declared again.
  std::string returned_queue;

  // How many copies the broker confirms: one per (message, queue).
  uint64_t Copies() const;
  // The (message, queue) that `seq` stands for.
  std::pair<size_t, const std::string*> At(uint64_t seq) const;
};

// Publisher-confirm bookkeeping of one publisher (AMQP 0-9-1 publisher
// confirms): the pending batches in order, which batch each sequence number
// (delivery tag) of the publish channel stands for, which ones the broker
// confirmed (one at a time or `multiple` up to one), its nacks, and the
// confirm window. A batch is answered once the broker confirmed every
// message of it, and batches are answered in order.
//
// Does no I/O: the publisher sends through Publish's callback and feeds
// the broker's acks and nacks to Confirm. Not thread-safe: the publisher
// thread owns it. Batch callbacks run on the calling thread.
class ConfirmTracker {
 public:
  // Called once for each nacked copy of a message for `queue`: whether the
  // nack is a final refusal because the queue refuses by policy
  // (x-overflow reject-publish). Otherwise the broker could not store it,
  // and the batch is to be published again.
  using RefusesByPolicy = std::function<bool(const std::string& queue)>;
  // Publishes one copy of `message` to `queue` on the publish channel.
  using Send = absl::FunctionRef<absl::Status(const OutgoingMessage& message,
                                              const std::string& queue)>;

  // At most `window` messages unconfirmed at once (HasRoomFor).
  ConfirmTracker(uint64_t window, RefusesByPolicy refuses_by_policy);

  ConfirmTracker(const ConfirmTracker&) = delete;
  ConfirmTracker& operator=(const ConfirmTracker&) = delete;

  // Adds `batch` behind the pending ones, unpublished. The reference stays
  // valid while the batch is pending.
  PendingBatch& Add(PendingBatch batch);

  // Whether `copies` more messages fit the confirm window. Never stalls a
  // batch larger than the window: with nothing unconfirmed there is room.
  bool HasRoomFor(uint64_t copies) const;

  // Publishes `batch`, a pending batch, with `send`, numbering its copies
  // on the current channel. Stops at the first error of `send` and returns
  // it: nothing more may go on that channel (a publish can fail
  // half-written), and the batch is published again after Restart.
  absl::Status Publish(PendingBatch& batch, Send send);

  // A new channel numbers confirms from 1: everything unconfirmed goes
  // again, in order (ForEachPending). The consumer side drops the
  // duplicates by event id.
  void Restart();
  // Calls `f` with each pending batch, oldest first; stops at the first
  // error and returns it.
  absl::Status ForEachPending(absl::FunctionRef<absl::Status(PendingBatch&)> f);

  struct Outcome {
    // Batches answered OK (the broker stored them) by this confirm.
    size_t stored = 0;
    // Not empty when the oldest pending batch is confirmed in full but
    // nacked for this queue (not a refusal by policy): it stays pending,
    // and with it every batch after it, to be published again in order on
    // a new channel.
    std::string nacked_queue;
  };
  // The broker's basic.ack (`ack`) or basic.nack of `seq`, or of every
  // unconfirmed sequence number up to `seq` when `multiple`. Answers the
  // batches it completes.
  Outcome Confirm(uint64_t seq, bool multiple, bool ack);

  // The broker returned message `id` for `queue` as unroutable. Its
  // confirm follows; the batch holding the oldest unconfirmed copy of this
  // message for this queue fails (NotFound) when it completes. Returns
  // whether a pending batch holds such a copy.
  bool Returned(const std::string& queue, const std::string& id);

  // Answers every pending batch with `status`, in order.
  void FailAll(const absl::Status& status);

  size_t pending_batches() const { return pending_.size(); }
  // Published on the current channel and not yet confirmed.
  uint64_t unconfirmed() const { return unconfirmed_; }

 private:
  // A nack of `seq` in `batch`: a refusal when its queue rejects by policy,
  // else the whole batch goes again.
  void Nack(PendingBatch& batch, uint64_t seq);
  // Nacks of `seq` (or up to it) not yet confirmed.
  void NackUpTo(uint64_t seq, bool multiple);
  void MarkConfirmed(uint64_t seq, bool multiple);
  // Answers the oldest batches whose every message is confirmed.
  void AnswerConfirmed(Outcome& outcome);

  const uint64_t window_;
  const RefusesByPolicy refuses_by_policy_;
  uint64_t next_seq_ = 1;
  uint64_t unconfirmed_ = 0;
  // Confirms: every sequence number up to confirmed_upto_, and these above.
  uint64_t confirmed_upto_ = 0;
  absl::btree_set<uint64_t> confirmed_above_;
  std::deque<PendingBatch> pending_;
};

}  // namespace switchboard::bridge::rabbitmq

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_CONFIRM_TRACKER_H_
