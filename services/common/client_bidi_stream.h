#ifndef SWITCHBOARD_SERVICES_COMMON_CLIENT_BIDI_STREAM_H_
#define SWITCHBOARD_SERVICES_COMMON_CLIENT_BIDI_STREAM_H_

// The client side's twin of BidiStream (bidi_stream.h).

#include <grpcpp/client_context.h>
#include <grpcpp/support/client_callback.h>
#include <grpcpp/support/status.h>

#include <deque>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace switchboard {

// A client-side bidirectional stream on gRPC's callback API: no thread per
// stream. Subclasses handle responses in OnResponse and send requests with
// Send, from any thread. Requests are written one at a time, in Send order,
// from a queue; Close half-closes the call once every queued request is
// written. Responses are read one after the other until the call ends.
//
// Threading: Send, Close and Cancel are thread-safe and never block; they
// may be called from the stream's own reactions. OnResponse calls never
// overlap. Every reaction runs on a gRPC thread and must not block.
//
// Lifetime: the call holds the stream open (a gRPC hold) until its reads
// have seen the end and no thread is starting an operation, so OnDone never
// races with a Send or Close. OnDone runs once, with the call's status, and
// calls OnStreamEnded: that is the last thing the stream does with itself,
// so a self-owned subclass may `delete this` there, and an owner may destroy
// the stream as soon as OnStreamEnded has told it (a Notification, say).
// Until then the object must live; a channel must outlive its calls.
template <class Req, class Resp>
class ClientBidiStream : public grpc::ClientBidiReactor<Req, Resp> {
 public:
  ClientBidiStream(const ClientBidiStream&) = delete;
  ClientBidiStream& operator=(const ClientBidiStream&) = delete;

  // Queues a request. Returns false, dropping it, after Close or once the
  // call has ended. May come after the stub bound the call and before the
  // stream starts: such requests are the call's first.
  bool Send(Req request) ABSL_LOCKS_EXCLUDED(mu_) {
    const Req* to_write = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (done_writing_ || ended_) return false;
      queue_.push_back(std::move(request));
      if (writing_) return true;
      writing_ = true;
      to_write = &queue_.front();
    }
    StartOp([&] { this->StartWrite(to_write); });
    return true;
  }

  // Half-closes the call once every queued request is written; later
  // requests are dropped. The server's answer to that (its status, after
  // any last responses) ends the call. Only the first call counts.
  void Close() ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (done_writing_) return;
      done_writing_ = true;
      if (writing_) return;  // OnWriteDone closes after the last write.
    }
    StartOp([&] { this->StartWritesDone(); });
  }

  // Ends the call now: queued requests may be lost, OnDone follows with
  // CANCELLED unless the call had already ended otherwise.
  void Cancel() { context_.TryCancel(); }

 protected:
  ClientBidiStream() = default;

  // The call's context: set metadata and deadlines on it before the stream
  // starts, bind the call with it (`stub->async()->Method(context(),
  // this)`).
  grpc::ClientContext* context() { return &context_; }

  // Starts the call once the stub has bound it to this stream: the requests
  // sent so far go out first, and responses are read (OnResponse) until the
  // call ends. Call once.
  void StartStream() {
    this->AddHold();
    this->StartRead(&response_);
    this->StartCall();
  }

  // The same, except that no response is read before StartReads(), which
  // must follow (until then the call cannot end): for a stream that must
  // learn that its first request was written (OnRequestWritten) before it
  // handles any response.
  void StartStreamWithoutReads() {
    this->AddHold();
    this->StartCall();
  }
  void StartReads() { this->StartRead(&response_); }

  // One response; calls never overlap, and the next read starts after it
  // returns. May move from `response`.
  virtual void OnResponse(Resp& response) = 0;
  // A write came back, in Send order: `ok` false means the call is over
  // and the queued requests are dropped (no more writes follow).
  virtual void OnRequestWritten(bool ok) {}
  // The call is over with `status`; no reaction runs after this one. Runs
  // once; may delete `this` (see Lifetime above).
  virtual void OnStreamEnded(const grpc::Status& status) = 0;

 private:
  // Starts an operation unless the call has ended; the hold stays while a
  // thread is between that check and the start.
  template <typename F>
  void StartOp(F start) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (ended_) return;
      ++starting_;
    }
    start();
    ReleaseHoldIfDone(/*started=*/true);
  }

  // Removes the hold once the reads saw the end and no operation is being
  // started; `started` ends a StartOp.
  void ReleaseHoldIfDone(bool started) ABSL_LOCKS_EXCLUDED(mu_) {
    bool release = false;
    {
      absl::MutexLock lock(&mu_);
      if (started) --starting_;
      if (ended_ && starting_ == 0 && !hold_released_) {
        hold_released_ = true;
        release = true;
      }
    }
    if (release) this->RemoveHold();
  }

  void OnWriteDone(bool ok) final {
    const Req* next = nullptr;
    bool close = false;
    {
      absl::MutexLock lock(&mu_);
      queue_.pop_front();
      if (!ok) {
        // The call is over; OnDone follows.
        done_writing_ = true;
        queue_.clear();
        writing_ = false;
      } else if (!queue_.empty()) {
        next = &queue_.front();
      } else {
        writing_ = false;
        close = done_writing_;
      }
    }
    OnRequestWritten(ok);
    if (next != nullptr) StartOp([&] { this->StartWrite(next); });
    if (close) StartOp([&] { this->StartWritesDone(); });
  }

  void OnReadDone(bool ok) final {
    if (!ok) {
      // The call has ended: start nothing more; OnDone follows.
      {
        absl::MutexLock lock(&mu_);
        ended_ = true;
      }
      ReleaseHoldIfDone(/*started=*/false);
      return;
    }
    OnResponse(response_);
    StartOp([&] { this->StartRead(&response_); });
  }

  void OnDone(const grpc::Status& status) final { OnStreamEnded(status); }

  grpc::ClientContext context_;
  Resp response_;
  absl::Mutex mu_;
  std::deque<Req> queue_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool done_writing_ ABSL_GUARDED_BY(mu_) = false;
  // The reads saw the end of the call.
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  // Threads between deciding to start an operation and having started it.
  int starting_ ABSL_GUARDED_BY(mu_) = 0;
  bool hold_released_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_COMMON_CLIENT_BIDI_STREAM_H_
