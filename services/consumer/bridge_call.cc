#include "services/consumer/bridge_call.h"

#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "services/common/logging.h"
#include "services/common/wire/wire_check.h"

namespace switchboard::consumer {

using relay::SubscribeResponse;
using switchboard::v1::ConsumeRequest;
using switchboard::v1::ConsumeResponse;

namespace {

// switchboard.v1.Event.time's field number.
constexpr int kEventTimeField = switchboard::v1::Event::kTimeFieldNumber;

// Logs the first failure of `checked` and how many failed since the last
// log, at most once a second for the whole process (a publisher flooding
// a queue with garbage must not flood the log too); the counts are in
// switchboard_consumer_malformed_total.
void LogMalformed(const std::vector<absl::Status>& checked, int failed) {
  static std::atomic<int64_t> next_log{0};
  static std::atomic<int64_t> unlogged{0};
  unlogged += failed;
  const int64_t now = absl::GetCurrentTimeNanos();
  int64_t due = next_log.load();
  if (now < due || !next_log.compare_exchange_strong(due, now + 1000000000)) {
    return;
  }
  for (const absl::Status& s : checked) {
    if (s.ok()) continue;
    Logger("consumer")
        ->error(
            "{} (rejected to its dead-letter queue; {} malformed deliveries "
            "since the last report)",
            std::string(s.message()), unlogged.exchange(0));
    return;
  }
}

}  // namespace

// ------------------------------------------------------------ BridgeCalls

BridgeCalls::~BridgeCalls() { CloseAll(absl::ZeroDuration()); }

bool BridgeCalls::Add(BridgeCall* call) {
  absl::MutexLock lock(&mu_);
  if (closed_) return false;
  calls_.insert(call);
  return true;
}

void BridgeCalls::Remove(BridgeCall* call) {
  absl::MutexLock lock(&mu_);
  calls_.erase(call);
}

size_t BridgeCalls::size() const {
  absl::MutexLock lock(&mu_);
  return calls_.size();
}

void BridgeCalls::CloseAll(absl::Duration grace) {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  auto none = [this]()
                  ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return calls_.empty(); };
  if (mu_.AwaitWithTimeout(absl::Condition(&none), grace)) return;
  Logger("consumer")
      ->warn("{} bridge calls still open at shutdown; cancelling them",
             calls_.size());
  // Under the lock: a call leaves the set (Remove) before it deletes
  // itself, so every one cancelled here is alive.
  for (BridgeCall* call : calls_) call->Cancel();
  // Cancellation ends a call without the peer's help.
  mu_.Await(absl::Condition(&none));
}

// ------------------------------------------------------------- BridgeCall

absl::StatusOr<std::shared_ptr<CallHandle>> BridgeCall::Start(
    switchboard::v1::Bridge::Stub* stub, ConsumeRequest open,
    std::shared_ptr<AppWriter> app, DedupWindows* dedup, BridgeCalls* calls,
    absl::Duration ack_deadline, TimerWorker* timers) {
  // Before `app` moves into the call.
  auto held = std::make_shared<CallHandle>(open.open().prefetch(), ack_deadline,
                                           timers, app);
  auto* call = new BridgeCall(std::move(app), dedup, calls, std::move(held));
  if (!calls->Add(call)) {
    delete call;
    return absl::UnavailableError("the consumer is shutting down");
  }
  auto handle = call->handle_;
  {
    absl::MutexLock lock(&handle->mu);
    handle->call = call;
  }
  stub->async()->Consume(call->context(), call);
  call->Send(std::move(open));
  call->StartStream();
  return handle;
}

BridgeCall::BridgeCall(std::shared_ptr<AppWriter> app, DedupWindows* dedup,
                       BridgeCalls* calls, std::shared_ptr<CallHandle> handle)
    : app_(std::move(app)),
      dedup_(dedup),
      calls_(calls),
      handle_(std::move(handle)) {}

void BridgeCall::OnResponse(ConsumeResponse& response) {
  const int n = response.deliveries_size();
  Verdicts v;
  // Each event is checked before it may reach the app, outside the lock:
  // an outside publisher may have put anything in the queue.
  v.checked.reserve(n);
  for (const auto& d : response.deliveries()) {
    v.checked.push_back(CheckDelivery(d));
  }
  v.windows.resize(n);
  v.counters.resize(n);
  v.keys.assign(n, DedupWindow::kNoKey);
  v.admissions.reserve(n);
  v.admitted.assign(n, true);
  ConsumeRequest duplicates;
  ConsumeRequest malformed;
  {
    absl::MutexLock lock(&handle_->mu);
    AskDedupWindows(response, v);
    Settle(response, v, &duplicates, &malformed);
    ++handle_->handing_over;
  }
  if (malformed.has_nack()) {
    LogMalformed(v.checked, malformed.nack().tags_size());
    malformed.mutable_nack()->set_requeue(false);
    Send(std::move(malformed));
  }
  if (duplicates.has_ack()) {
    // Seen already: done with, without the app seeing it twice.
    Logger("consumer")
        ->debug("dropped {} duplicate deliveries",
                duplicates.ack().tags_size());
    Send(std::move(duplicates));
  }
  HandOver(response, v.admitted);
  bool exhausted;
  {
    absl::MutexLock lock(&handle_->mu);
    --handle_->handing_over;
    exhausted = handle_->Exhausted();
  }
  // After what was just queued is written; the app stream's end then
  // closes this call and the deliveries go back to their queues.
  if (exhausted) app_->Finish(grpc::Status::OK);
}

void BridgeCall::AskDedupWindows(const ConsumeResponse& response, Verdicts& v) {
  // One lock of a window for each run of deliveries from its queue (a
  // response's mostly share one), and its window and counters looked up
  // once per run.
  const int n = response.deliveries_size();
  for (int i = 0; i < n;) {
    const std::string& queue = response.deliveries(i).queue();
    DedupWindow* window = dedup_->For(queue);
    QueueCounters* counters = calls_->counters().For(queue);
    const int first = i;
    for (; i < n && response.deliveries(i).queue() == queue; ++i) {
      v.windows[i] = window;
      v.counters[i] = counters;
      // A malformed one keeps kNoKey: admitted trivially, remembered
      // nowhere.
      if (window != nullptr && v.checked[i].ok()) {
        v.keys[i] = DedupWindow::KeyOf(response.deliveries(i).id());
      }
    }
    const absl::Span<const DedupWindow::Key> run(&v.keys[first], i - first);
    if (window != nullptr) {
      window->AdmitAll(run, &v.admissions);
    } else {
      v.admissions.resize(v.admissions.size() + run.size(),
                          DedupWindow::Admission::kAdmitted);
    }
  }
}

void BridgeCall::Settle(const ConsumeResponse& response, Verdicts& v,
                        ConsumeRequest* duplicates, ConsumeRequest* malformed) {
  for (int i = 0; i < response.deliveries_size(); ++i) {
    const auto& d = response.deliveries(i);
    DedupWindow* const window = v.windows[i];
    QueueCounters* const counters = v.counters[i];
    if (!v.checked[i].ok()) {
      // Never shown to the app, nor remembered as seen: rejected, to the
      // queue's dead-letter queue where it has one.
      v.admitted[i] = false;
      malformed->mutable_nack()->add_tags(d.tag());
      ++counters->malformed;
      continue;
    }
    const DedupWindow::Key key = v.keys[i];
    const DedupWindow::Admission admission = v.admissions[i];
    if (admission != DedupWindow::Admission::kAdmitted) {
      v.admitted[i] = false;
      auto mine = key == DedupWindow::kNoKey ? handle_->held_keys.end()
                                             : handle_->held_keys.find(key);
      if (mine != handle_->held_keys.end()) {
        // A copy of an event this app holds: the transport delivered it
        // again (a reconnect requeued the first copy, whose tag is now
        // dead). Acking it would drop the only live copy; instead the
        // app's tag now stands for it, and the old tag is settled (a no-op
        // for a dead one; a live one is a true duplicate).
        CallHandle::Held& h = handle_->held[mine->second];
        duplicates->mutable_ack()->add_tags(h.bridge_tag);
        h.bridge_tag = d.tag();
        continue;
      }
      if (admission == DedupWindow::Admission::kInFlight) {
        handle_->Park(window, key, d, counters);  // a copy: rare
        continue;
      }
      duplicates->mutable_ack()->add_tags(d.tag());
      ++counters->duplicates;
      continue;
    }
    ++counters->deliveries;
    if (d.delivery_count() > 1) ++counters->redeliveries;
    CallHandle::Held held{window, key, d.tag()};
    held.counters = counters;
    handle_->Admit(d.tag(), held);
    if (window != nullptr && key != DedupWindow::kNoKey) {
      handle_->held_keys[key] = d.tag();
    }
  }
}

void BridgeCall::HandOver(ConsumeResponse& response,
                          const std::vector<bool>& admitted) {
  relay::SubscribeResponse out;
  out.mutable_deliveries()->Reserve(response.deliveries_size());
  const absl::Time now = absl::Now();
  HistogramBatch latency(LatencyBuckets());
  for (int i = 0; i < response.deliveries_size(); ++i) {
    if (!admitted[i]) continue;
    relay::EventDelivery* delivery = out.add_deliveries();
    ToAppDelivery(*response.mutable_deliveries(i), delivery);
    if (absl::optional<int64_t> time =
            wire::TimestampNanos(delivery->event(), kEventTimeField)) {
      // An event stamped ahead of this clock (allowed up to the
      // broadcaster's max_time_ahead) counts as delivered at once.
      latency.Observe(std::max(
          0.0, absl::ToDoubleSeconds(now - absl::FromUnixNanos(*time))));
    }
  }
  latency.FlushTo(calls_->counters().latency());
  if (out.deliveries_size() > 0) app_->Send(std::move(out));
}

void BridgeCall::OnStreamEnded(const grpc::Status& status) {
  if (status.ok() || status.error_code() == grpc::StatusCode::CANCELLED) {
    app_->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              "the bridge ended the subscription; "
                              "subscribe again"));
  } else {
    app_->Finish(status);
  }
  {
    absl::MutexLock lock(&handle_->mu);
    handle_->call = nullptr;
    // The bridge returned whatever was unacked.
    handle_->ReleaseAll();
  }
  // Out of the set first: once it is empty the consumer may release the
  // channel, and deleting the call no longer needs it.
  calls_->Remove(this);
  delete this;
}

}  // namespace switchboard::consumer
