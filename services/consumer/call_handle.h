#ifndef SWITCHBOARD_SERVICES_CONSUMER_CALL_HANDLE_H_
#define SWITCHBOARD_SERVICES_CONSUMER_CALL_HANDLE_H_

// What an app Subscribe stream holds of its bridge call: the deliveries the
// app holds unacked, their ack deadlines and delayed nacks, and the tags
// that went stale.

#include <cstdint>
#include <deque>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/common/bidi_stream.h"
#include "services/consumer/consumer_metrics.h"
#include "services/consumer/dedup_window.h"
#include "services/consumer/relay.pb.h"
#include "services/consumer/timer_worker.h"
#include "switchboard/v1/bridge.pb.h"
#include "switchboard/v1/consumer.grpc.pb.h"

namespace switchboard::consumer {

class BridgeCall;

// The app stream's writer, to which a bridge call hands deliveries (each
// event as the bytes the bridge delivered; see relay.proto).
using AppWriter = BidiStream<switchboard::v1::SubscribeRequest,
                             relay::SubscribeResponse>::Writer;

// How the app side reaches its bridge call, which may end (and delete
// itself) at any time: through this lock, which the call takes to detach.
//
// Deadlines: a delivery held past `ack_deadline` (unless extended), and a
// delivery nacked with a delay once the delay is over, are nacked with
// requeue to the bridge by the timer worker; their tags then go stale (an
// ack of one settles nothing and is answered in
// SubscribeResponse.stale_tags).
class CallHandle final : public TimedTarget,
                         public std::enable_shared_from_this<CallHandle> {
 public:
  // Stale tags remembered per subscription, so that late acks are answered
  // rather than sent to the bridge (which ends the stream for a tag it
  // does not know). Older ones are forgotten.
  static constexpr size_t kMaxStaleTags = 10000;

  // `ack_deadline` zero: off. `timers` outlives the handle.
  // `app` is the stream that a half-closed subscription's first expiry
  // ends (it could never ack what would come again).
  CallHandle(uint32_t credit, absl::Duration ack_deadline, TimerWorker* timers,
             std::shared_ptr<AppWriter> app)
      : credit(credit),
        ack_deadline(ack_deadline),
        timers_(timers),
        app_(std::move(app)) {}

  absl::Mutex mu;
  BridgeCall* call ABSL_GUARDED_BY(mu) = nullptr;
  // One delivery the app holds unacked.
  struct Held {
    DedupWindow* window;
    DedupWindow::Key key;
    // The bridge's tag for it now: the app's tag, unless the transport
    // delivered the event again meanwhile (its first delivery's tag died
    // with a reconnect); acks and nacks of the app's tag go to this one.
    uint64_t bridge_tag;
    // When the timer worker gives it back (InfiniteFuture: never).
    absl::Time due = absl::InfiniteFuture();
    // The app nacked it with a delay: it goes back at `due`, and the app
    // can no longer settle it.
    bool nack_delayed = false;
    // Its queue's counters (metrics): acks and nacks.
    QueueCounters* counters = nullptr;
  };
  // What the app holds unacked, by the tag the app knows.
  absl::flat_hash_map<uint64_t, Held> held ABSL_GUARDED_BY(mu);
  // The app's tag of each held event, by dedup key (dedup on only).
  absl::flat_hash_map<DedupWindow::Key, uint64_t> held_keys ABSL_GUARDED_BY(mu);
  // The subscription's credit window.
  const uint32_t credit;
  // Off when zero.
  const absl::Duration ack_deadline;
  // The app closed its side (grpcurl does after its -d message): it can
  // ack nothing more, so once `credit` deliveries are out nothing more can
  // come, and the stream ends.
  bool app_done ABSL_GUARDED_BY(mu) = false;
  // Deliveries admitted to `held` and not yet handed to the app's writer.
  int handing_over ABSL_GUARDED_BY(mu) = 0;

  // A delivery reached the app: held, with its ack deadline.
  void Admit(uint64_t tag, Held entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // How often parked copies look at their event again.
  static constexpr absl::Duration kParkedPoll = absl::Milliseconds(100);
  // The bridge delivered a copy of an event that another subscription
  // holds unacked (DedupWindow::Admission::kInFlight): a transport
  // reconnect may have requeued that subscription's copy, whose tag died
  // with the connection, and handed it here, so acking this copy could
  // drop the only live one, and delivering it would show the event twice.
  // It waits (keeping its slot of the bridge's prefetch) and is looked at
  // every kParkedPoll: once the holder acked, it is acked (dropped); once
  // the holder gave its copy back, it is delivered to this app.
  void Park(DedupWindow* window, DedupWindow::Key key,
            switchboard::v1::Delivery delivery, QueueCounters* counters)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  size_t parked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return parked_.size();
  }

  // The app acked or nacked `it`: the bridge tag to settle. Its dedup key
  // goes to `settled` (Done, or Release with `release`), which the caller
  // applies before releasing mu.
  uint64_t Settle(absl::flat_hash_map<uint64_t, Held>::iterator it,
                  bool release, SettledKeys* settled)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // What an app request may do with `tag`: kHeld it may settle or extend;
  // kStale its deadline passed or it was nacked with a delay (answered
  // with stale_tags); kUnknown the bridge judges.
  enum class TagState { kHeld, kStale, kUnknown };
  TagState StateOf(uint64_t tag) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // The app is still working on `tag` (kHeld): its deadline is now
  // `deadline` from now.
  void Extend(uint64_t tag, absl::Duration deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // The app nacked `tag` (kHeld) with requeue and a delay: it keeps its
  // credit slot and goes back to the bridge (nack with requeue) after
  // `delay`.
  void DelayNack(uint64_t tag, absl::Duration delay)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Whether the app stream should end now: it closed its side, its whole
  // credit is out and written (or queued to be).
  bool Exhausted() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return app_done && handing_over == 0 && held.size() >= credit;
  }

  // The held deliveries went back to their queues (and parked copies, with
  // the bridge call that carried them).
  void ReleaseAll() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Deliveries given back because their ack deadline passed, so far.
  uint64_t expired() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return expired_;
  }

  // TimedTarget: gives back what is due to the bridge, and settles or
  // delivers parked copies whose event's holder settled.
  absl::Time Fire(absl::Time now) override ABSL_LOCKS_EXCLUDED(mu);

 private:
  struct Parked {
    DedupWindow* window;
    DedupWindow::Key key;
    switchboard::v1::Delivery delivery;
    QueueCounters* counters;
  };
  absl::Time FireLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Parked copies whose holder settled: acks for the bridge, deliveries
  // for the app (now held).
  void UnparkLocked(switchboard::v1::ConsumeRequest* acks,
                    relay::SubscribeResponse* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void SetDueLocked(uint64_t tag, Held& entry, absl::Time due)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void AddStaleLocked(uint64_t tag) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  TimerWorker* const timers_;
  const std::shared_ptr<AppWriter> app_;
  // (due, app tag) of held deliveries with a deadline.
  absl::btree_set<std::pair<absl::Time, uint64_t>> due_ ABSL_GUARDED_BY(mu);
  absl::flat_hash_set<uint64_t> stale_ ABSL_GUARDED_BY(mu);
  std::deque<uint64_t> stale_order_ ABSL_GUARDED_BY(mu);
  std::vector<Parked> parked_ ABSL_GUARDED_BY(mu);
  uint64_t expired_ ABSL_GUARDED_BY(mu) = 0;
};

// The app's view of a bridge delivery (`from` is moved from): the event's
// bytes are handed on as they are, checked beforehand (CheckDelivery).
void ToAppDelivery(switchboard::v1::Delivery& from, relay::EventDelivery* to);

// Whether a bridge delivery carries a valid switchboard.v1.Event (it may
// not, when an outside publisher put it in the queue), checked without
// parsing it (wire::CheckMessage); INVALID_ARGUMENT naming the delivery's
// id, queue and the field at fault otherwise.
absl::Status CheckDelivery(const switchboard::v1::Delivery& delivery);

}  // namespace switchboard::consumer

#endif  // SWITCHBOARD_SERVICES_CONSUMER_CALL_HANDLE_H_
