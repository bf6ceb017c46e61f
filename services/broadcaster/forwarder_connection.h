// Forwarder::Connection: one Produce stream of the forwarder. Private to
// the forwarder library (forwarder.cc includes it); a header of its own so
// that the stream's batching, answers and hand-back read apart from the
// forwarder's reconnect and reconfigure loop.
#ifndef SWITCHBOARD_SERVICES_BROADCASTER_FORWARDER_CONNECTION_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_FORWARDER_CONNECTION_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "services/broadcaster/forwarder.h"
#include "services/common/logging.h"
#include "switchboard/v1/bridge.grpc.pb.h"

namespace switchboard::broadcaster {
namespace forwarder_internal {

// How long a reconfigured stream waits for its in-flight answers.
inline constexpr absl::Duration kReconfigureDrain = absl::Seconds(10);
// How long a closing stream waits for the bridge's last answers.
inline constexpr absl::Duration kCloseDrain = absl::Seconds(5);

// Errors the bridge gives for a batch that will not succeed on retry (a
// queue declared with conflicting options, a malformed batch). Any other
// failure is retried; NOT_FOUND too, since a retry declares its queues
// again.
inline bool IsPermanent(grpc::StatusCode code) {
  return code == grpc::StatusCode::INVALID_ARGUMENT ||
         code == grpc::StatusCode::FAILED_PRECONDITION;
}

}  // namespace forwarder_internal

// One Produce stream. The forwarder thread writes batches; a reader thread
// settles them as answers come. Lives until the stream breaks.
class Forwarder::Connection {
  using ProduceRequest = switchboard::v1::ProduceRequest;
  using ProduceResponse = switchboard::v1::ProduceResponse;
  using RoutedEvent = switchboard::v1::RoutedEvent;

 public:
  Connection(Forwarder* forwarder, Options options,
             switchboard::v1::Bridge::Stub* stub)
      : forwarder_(forwarder),
        options_(std::move(options)),
        stream_(stub->Produce(&context_)) {
    reader_ = std::thread([this] { ReadAnswers(); });
  }

  // Sends batches until the stream breaks or the forwarder stops. Returns
  // true if at least one batch was confirmed.
  bool Pump() {
    const Options& o = options_;
    uint64_t next_batch_id = 1;
    if (!o.static_queues.empty()) SendStaticDeclares(next_batch_id++);
    for (;;) {
      switch (AwaitSendWindow()) {
        case Window::kBroken:
          return Close();
        case Window::kRetryAfterFailure: {
          absl::Duration delay = o.backoff_initial;
          if (!forwarder_->Backoff(&delay)) return Close();
          break;
        }
        case Window::kOpen:
          break;
      }
      // Stop() has already waited for the buffer to drain.
      if (forwarder_->stopping_.HasBeenNotified()) break;
      if (forwarder_->reconfiguring()) {
        DrainBeforeReconfigure();
        break;
      }
      std::vector<RoutedEvent> events;
      std::vector<EventBuffer::Ref> refs;
      if (!forwarder_->buffer_->Take(o.batch_max_events, o.batch_max_bytes,
                                     absl::Milliseconds(50), &events, &refs)) {
        break;  // closed and empty
      }
      if (events.empty()) continue;
      if (!Send(BuildBatch(next_batch_id++, events), std::move(refs))) break;
    }
    return Close();
  }

 private:
  enum class Window { kOpen, kRetryAfterFailure, kBroken };

  // The queues every broadcaster declares, as the stream's first batch.
  void SendStaticDeclares(uint64_t batch_id) {
    ProduceRequest declare;
    declare.set_batch_id(batch_id);
    for (const std::string& q : options_.static_queues) {
      declared_.insert(q);
      *declare.add_declare() = Spec(q);
    }
    {
      absl::MutexLock lock(&mu_);
      inflight_.emplace(declare.batch_id(),
                        Sent{std::make_shared<ProduceRequest>(declare), {}});
    }
    if (!stream_->Write(declare)) {
      absl::MutexLock lock(&mu_);
      broken_ = true;
    }
  }

  // Waits until another batch may be sent: fewer than max_inflight_batches
  // unanswered, or, after a failure, every answer in (the failed batches
  // are then back in the buffer, first, in their order).
  Window AwaitSendWindow() {
    absl::MutexLock lock(&mu_);
    auto can_send = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return broken_ ||
             (!paused_ && inflight_.size() < options_.max_inflight_batches) ||
             (paused_ && inflight_.empty());
    };
    mu_.Await(absl::Condition(&can_send));
    if (broken_) return Window::kBroken;
    if (!paused_) return Window::kOpen;
    // A batch failed; every answer is in. Failed batches go back first, in
    // their original order, then a pause before retrying.
    ReturnToBuffer(std::move(failed_));
    failed_.clear();
    // A failed batch may have failed before its declares took effect (the
    // broker went away mid-declare): declare again.
    declared_.clear();
    paused_ = false;
    return Window::kRetryAfterFailure;
  }

  // Lets the bridge answer what it has before the stream is replaced, so
  // the new stream does not send it again; what stays unanswered goes back
  // to the buffer.
  void DrainBeforeReconfigure() {
    absl::MutexLock lock(&mu_);
    auto settled = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return broken_ || inflight_.empty();
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&settled),
                              forwarder_internal::kReconfigureDrain)) {
      Logger("broadcaster")
          ->warn(
              "bridge did not answer {} batches within {}; they will be "
              "sent again on the new stream",
              inflight_.size(),
              absl::FormatDuration(forwarder_internal::kReconfigureDrain));
    }
  }

  // The events (moved out of `events`), with declares of the queues this
  // stream has not declared yet. Shared with the in-flight record, which
  // the answer reader may drop while it is being written: built once,
  // never copied.
  std::shared_ptr<ProduceRequest> BuildBatch(uint64_t batch_id,
                                             std::vector<RoutedEvent>& events) {
    auto request = std::make_shared<ProduceRequest>();
    request->set_batch_id(batch_id);
    request->mutable_events()->Reserve(static_cast<int>(events.size()));
    for (RoutedEvent& e : events) {
      for (const std::string& q : e.queues()) {
        if (declared_.insert(q).second) *request->add_declare() = Spec(q);
      }
      request->add_events()->Swap(&e);
    }
    return request;
  }

  // Records the batch in flight, then writes it; false once the stream is
  // broken.
  bool Send(std::shared_ptr<ProduceRequest> request,
            std::vector<EventBuffer::Ref> refs) {
    bool broken;
    {
      // Recorded in flight before anything else: whatever happens next,
      // Close() returns it to the buffer unless it is confirmed.
      absl::MutexLock lock(&mu_);
      inflight_.emplace(request->batch_id(), Sent{request, std::move(refs)});
      broken = broken_;
    }
    // The write itself may block on flow control.
    if (broken || !stream_->Write(*request)) {
      absl::MutexLock lock(&mu_);
      broken_ = true;
      return false;
    }
    return true;
  }

  void ReadAnswers() {
    ProduceResponse answer;
    while (stream_->Read(&answer)) {
      absl::MutexLock lock(&mu_);
      auto it = inflight_.find(answer.batch_id());
      if (it == inflight_.end()) continue;
      const ProduceRequest& batch = *it->second.request;
      const std::vector<EventBuffer::Ref>& refs = it->second.refs;
      const uint64_t n = batch.events_size();
      uint64_t bytes = 0;
      for (const RoutedEvent& e : batch.events()) {
        bytes += EventBuffer::Cost(e);
      }
      forwarder_->answer_latency_.Observe(
          absl::ToDoubleSeconds(absl::Now() - it->second.written));
      auto code = static_cast<grpc::StatusCode>(answer.code());
      if (code == grpc::StatusCode::OK) {
        ++forwarder_->batches_;
        if (answer.refused_size() > 0) {
          // A refused copy is not in its queue: its token is lost, not
          // confirmed.
          std::vector<EventBuffer::Ref> confirmed = refs;
          forwarder_->NoteRefusals(batch, answer, &confirmed);
          forwarder_->buffer_->Release(n, bytes, confirmed);
        } else {
          forwarder_->buffer_->Release(n, bytes, refs);
        }
        forwarder_->forwarded_ += n;
        confirmed_any_ = true;
      } else if (forwarder_internal::IsPermanent(code)) {
        forwarder_->buffer_->Discard(
            n, bytes, refs,
            absl::Status(static_cast<absl::StatusCode>(code),
                         absl::StrCat("the bridge refused it for good: ",
                                      answer.message())));
        Logger("broadcaster")
            ->error(
                "bridge refused a batch of {} events for good, dropped "
                "them: {}",
                n, answer.message());
      } else {
        Logger("broadcaster")
            ->warn(
                "bridge could not take a batch of {} events ({}); "
                "retrying",
                n, answer.message());
        failed_.emplace(it->first, std::move(it->second));
        paused_ = true;
      }
      inflight_.erase(it);
    }
    absl::MutexLock lock(&mu_);
    broken_ = true;
    read_all_ = true;
  }

  bool Close() {
    stream_->WritesDone();
    {
      // Answers the bridge sent before it ended the call (a write fails
      // once it has) are read before cancelling: cancelling first would
      // drop them, and their batches, stored already, would be sent again
      // (duplicates, out of order). A bridge that answers nothing more is
      // cut off after forwarder_internal::kCloseDrain.
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&read_all_),
                           forwarder_internal::kCloseDrain);
    }
    context_.TryCancel();
    reader_.join();
    grpc::Status status = stream_->Finish();
    // Everything unanswered goes back, oldest first.
    std::map<uint64_t, Sent> back;
    bool confirmed_any;
    {
      // The reader has ended; the lock is for the analysis' sake.
      absl::MutexLock lock(&mu_);
      back = std::move(failed_);
      for (auto& [id, sent] : inflight_) back.emplace(id, std::move(sent));
      confirmed_any = confirmed_any_;
    }
    const size_t again = ReturnToBuffer(std::move(back));
    if (again > 0) {
      Logger("broadcaster")
          ->warn(
              "bridge stream ended ({}); {} unconfirmed events will be "
              "sent again",
              status.error_message(), again);
    }
    return confirmed_any;
  }

  // A batch sent on this stream: the request as written, and the buffer's
  // refs of its events (none for a declare-only batch).
  struct Sent {
    std::shared_ptr<ProduceRequest> request;
    std::vector<EventBuffer::Ref> refs;
    absl::Time written = absl::Now();
  };

  // Puts the events of `batches` back at the front of the buffer, oldest
  // first, with their refs; returns how many.
  size_t ReturnToBuffer(std::map<uint64_t, Sent> batches) {
    std::vector<RoutedEvent> again;
    std::vector<EventBuffer::Ref> refs;
    for (auto& [id, sent] : batches) {
      for (auto& e : *sent.request->mutable_events()) {
        again.push_back(std::move(e));
      }
      sent.refs.resize(sent.request->events_size());
      refs.insert(refs.end(), sent.refs.begin(), sent.refs.end());
    }
    const size_t n = again.size();
    forwarder_->buffer_->Return(std::move(again), std::move(refs));
    return n;
  }

  switchboard::v1::QueueSpec Spec(const std::string& queue) const {
    if (options_.queue_spec) return options_.queue_spec(queue);
    switchboard::v1::QueueSpec spec;
    spec.set_name(queue);
    return spec;
  }

  Forwarder* const forwarder_;
  const Options options_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<ProduceRequest, ProduceResponse>>
      stream_;
  std::thread reader_;
  // Queues declared on this stream; a new stream (maybe a restarted
  // bridge) declares them again.
  absl::flat_hash_set<std::string> declared_;

  absl::Mutex mu_;
  std::map<uint64_t, Sent> inflight_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, Sent> failed_ ABSL_GUARDED_BY(mu_);
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  // The reader has seen the end of the call.
  bool read_all_ ABSL_GUARDED_BY(mu_) = false;
  bool confirmed_any_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_FORWARDER_CONNECTION_H_
