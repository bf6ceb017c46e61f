#ifndef SWITCHBOARD_SERVICES_CONSUMER_BRIDGE_CALL_H_
#define SWITCHBOARD_SERVICES_CONSUMER_BRIDGE_CALL_H_

// The consumer's side of the bridge: one Consume stream per app Subscribe
// stream (BridgeCall), what the app stream holds of it (CallHandle), and the
// set of open calls that shutdown ends (BridgeCalls).

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/common/client_bidi_stream.h"
#include "services/consumer/call_handle.h"
#include "services/consumer/dedup_window.h"
#include "services/consumer/timer_worker.h"
#include "switchboard/v1/bridge.grpc.pb.h"
#include "switchboard/v1/consumer.grpc.pb.h"

namespace switchboard::consumer {

class BridgeCall;

// The bridge calls a consumer has open. gRPC requires a channel to outlive
// the callback calls on it, so the consumer ends them all, and waits for
// them, before it lets its channel go. Thread-safe.
class BridgeCalls {
 public:
  BridgeCalls() = default;
  BridgeCalls(const BridgeCalls&) = delete;
  BridgeCalls& operator=(const BridgeCalls&) = delete;
  // Ends every call (CloseAll with no grace) if CloseAll was not called.
  ~BridgeCalls();

  // Refuses new calls; waits up to `grace` for the open ones to end (each
  // is closed when its app stream ends: the bridge then returns what was
  // unacked), cancels those still open and waits until every one is gone.
  void CloseAll(absl::Duration grace);
  // Calls not yet ended.
  size_t size() const;
  // What the calls' deliveries and their apps did, per queue.
  ConsumerCounters& counters() { return counters_; }
  const ConsumerCounters& counters() const { return counters_; }

 private:
  friend class BridgeCall;
  // False once CloseAll has begun.
  bool Add(BridgeCall* call);
  // The call is ending: after this nothing touches it but its own thread.
  void Remove(BridgeCall* call);

  mutable absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_set<BridgeCall*> calls_ ABSL_GUARDED_BY(mu_);
  ConsumerCounters counters_;
};

// The client side of one bridge Consume stream, on gRPC's callback API. It
// turns bridge deliveries into app deliveries and carries the app's acks
// to the bridge (Send). Close ends the call once every queued request (acks
// above all) is written: the bridge then returns what is still unacked;
// cancelling instead could drop acks the app already sent. Deletes itself
// when the call is over.
class BridgeCall final
    : public ClientBidiStream<switchboard::v1::ConsumeRequest,
                              switchboard::v1::ConsumeResponse> {
 public:
  // Starts the call; `open` is the first request. UNAVAILABLE once `calls`
  // is closing.
  static absl::StatusOr<std::shared_ptr<CallHandle>> Start(
      switchboard::v1::Bridge::Stub* stub, switchboard::v1::ConsumeRequest open,
      std::shared_ptr<AppWriter> app, DedupWindows* dedup, BridgeCalls* calls,
      absl::Duration ack_deadline, TimerWorker* timers);

 private:
  friend class BridgeCalls;
  BridgeCall(std::shared_ptr<AppWriter> app, DedupWindows* dedup,
             BridgeCalls* calls, std::shared_ptr<CallHandle> handle);

  // Ends the call now (shutdown, after the grace period).
  using ClientBidiStream::Cancel;

  void OnResponse(switchboard::v1::ConsumeResponse& response) override;
  void OnStreamEnded(const grpc::Status& status) override;

  // What OnResponse decides for each delivery of the response, by index.
  struct Verdicts {
    // The wire check of each event (CheckDelivery).
    std::vector<absl::Status> checked;
    // Its queue's dedup window (null: dedup off) and counters.
    std::vector<DedupWindow*> windows;
    std::vector<QueueCounters*> counters;
    std::vector<DedupWindow::Key> keys;
    std::vector<DedupWindow::Admission> admissions;
    // Whether it goes to the app.
    std::vector<bool> admitted;
  };
  // The dedup windows' admissions for every delivery of `response`.
  void AskDedupWindows(const switchboard::v1::ConsumeResponse& response,
                       Verdicts& v) ABSL_EXCLUSIVE_LOCKS_REQUIRED(handle_->mu);
  // Holds the admitted deliveries for the app; collects the duplicates to
  // ack and the malformed ones to reject.
  void Settle(const switchboard::v1::ConsumeResponse& response, Verdicts& v,
              switchboard::v1::ConsumeRequest* duplicates,
              switchboard::v1::ConsumeRequest* malformed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(handle_->mu);
  // Sends the admitted deliveries to the app (bytes moved, not copied) and
  // observes their end-to-end latency.
  void HandOver(switchboard::v1::ConsumeResponse& response,
                const std::vector<bool>& admitted);

  std::shared_ptr<AppWriter> app_;
  DedupWindows* const dedup_;
  BridgeCalls* const calls_;
  std::shared_ptr<CallHandle> handle_;
};

}  // namespace switchboard::consumer

#endif  // SWITCHBOARD_SERVICES_CONSUMER_BRIDGE_CALL_H_
