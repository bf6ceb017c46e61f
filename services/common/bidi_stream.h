#ifndef SWITCHBOARD_SERVICES_COMMON_BIDI_STREAM_H_
#define SWITCHBOARD_SERVICES_COMMON_BIDI_STREAM_H_

#include <grpcpp/grpcpp.h>

#include <deque>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace switchboard {

class StreamWriterBase;

// The open streams of a service, so that shutdown can end them cleanly
// (UNAVAILABLE, after their queued responses) instead of waiting for
// clients that never hang up. Thread-safe.
class StreamSet {
 public:
  // Ends every open stream and refuses new ones.
  void CloseAll();
  // Ends every open stream with `status`; new ones are still accepted.
  void FinishAll(const grpc::Status& status);
  // Streams not yet done.
  size_t size();

 private:
  template <class Req, class Resp>
  friend class BidiStream;
  bool Add(std::shared_ptr<StreamWriterBase> writer);
  void Remove(StreamWriterBase* writer);

  absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<StreamWriterBase*, std::shared_ptr<StreamWriterBase>>
      writers_ ABSL_GUARDED_BY(mu_);
};

// The part of a stream that outlives it: other threads (transport callbacks,
// timers) hold a shared_ptr to it and write through it without caring
// whether the stream has ended meanwhile.
class StreamWriterBase {
 public:
  virtual ~StreamWriterBase() = default;
  // Ends the stream with `status` once every queued response is written.
  // Only the first call counts.
  virtual void Finish(grpc::Status status) = 0;
};

// A server-side bidirectional stream on gRPC's callback API: no thread per
// stream. Subclasses handle requests in OnRequest and answer with Send, from
// any thread. Responses are written one at a time, in Send order, from a
// queue; when more than `pause_reads_at` responses are queued the stream
// stops reading requests until the client catches up, so a client that
// does not read cannot grow the server's memory without bound.
//
// Lifetime: gRPC owns the object; it deletes itself after OnDone, having
// called OnStreamEnded first. Anything that calls Send from another thread
// must hold writer() rather than `this`.
//
// The client side's twin is ClientBidiStream (client_bidi_stream.h).
template <class Req, class Resp>
class BidiStream : public grpc::ServerBidiReactor<Req, Resp> {
 public:
  class Writer : public StreamWriterBase {
   public:
    // Queues a response. Returns false, dropping it, once the stream has
    // ended or is finishing.
    bool Send(Resp response) {
      const Resp* to_write = nullptr;
      BidiStream* stream;
      {
        absl::MutexLock lock(&mu_);
        stream = stream_;
        if (stream == nullptr) return false;
        stream->AssertWriterLockHeld();
        if (stream->finish_requested_) return false;
        stream->queue_.push_back(std::move(response));
        if (stream->writing_) return true;
        stream->writing_ = true;
        to_write = &stream->queue_.front();
      }
      // Outside the lock: gRPC may run OnWriteDone inline.
      stream->StartWrite(to_write);
      return true;
    }

    void Finish(grpc::Status status) override {
      BidiStream* stream;
      {
        absl::MutexLock lock(&mu_);
        stream = stream_;
        if (stream == nullptr) return;
        stream->AssertWriterLockHeld();
        if (stream->finish_requested_) return;
        stream->finish_requested_ = true;
        stream->finish_status_ = status;
        // Otherwise OnWriteDone or ResumeReads finishes.
        if (!stream->TakeFinish()) return;
      }
      stream->Finish(std::move(status));
    }

    // Reads paused by HoldReads() start again, unless something else
    // (queued responses, HoldReads() still true, the stream's end) keeps
    // them paused. Call after whatever HoldReads() depends on changed.
    void ResumeReads() {
      BidiStream* stream;
      {
        absl::MutexLock lock(&mu_);
        stream = stream_;
        if (stream == nullptr) return;
        stream->AssertWriterLockHeld();
        if (!stream->read_paused_ || stream->finish_requested_ ||
            stream->queue_.size() >= stream->pause_reads_at_ ||
            stream->HoldReads()) {
          return;
        }
        stream->read_paused_ = false;
        // Until the read is started, Finish waits (the stream must not
        // end, and be deleted, under the StartRead below).
        stream->resuming_ = true;
      }
      stream->StartRead(&stream->request_);
      grpc::Status finish_status;
      {
        absl::MutexLock lock(&mu_);
        stream->AssertWriterLockHeld();
        stream->resuming_ = false;
        if (!stream->TakeFinish()) return;
        finish_status = stream->finish_status_;
      }
      stream->Finish(std::move(finish_status));
    }

   private:
    friend class BidiStream;
    absl::Mutex mu_;
    BidiStream* stream_ ABSL_GUARDED_BY(mu_);
  };

  const std::shared_ptr<Writer>& writer() const { return writer_; }

 private:
  // For Writer, which holds its own mu_ after reading stream_: the analysis
  // cannot tell that it is this stream's writer_->mu_.
  void AssertWriterLockHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK(writer_->mu_) {
    writer_->mu_.AssertHeld();
  }

 protected:
  // `streams` may be null. Call StartStream() at the end of the subclass's
  // constructor.
  BidiStream(StreamSet* streams, size_t pause_reads_at)
      : streams_(streams),
        pause_reads_at_(pause_reads_at),
        writer_(std::make_shared<Writer>()) {
    writer_->stream_ = this;
  }

  void StartStream() {
    if (streams_ != nullptr && !streams_->Add(writer_)) {
      streams_ = nullptr;
      writer_->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                   "the service is shutting down"));
      return;
    }
    this->StartRead(&request_);
  }

  // One request; calls never overlap. May move from `request`.
  virtual void OnRequest(Req& request) = 0;
  // The client half-closed its side. The default ends the stream with OK.
  virtual void OnClientDone() { writer_->Finish(grpc::Status::OK); }
  // The stream is over and no more reactions will run; release what holds
  // the writer (subscriptions, timers). Runs once, just before deletion.
  virtual void OnStreamEnded() {}
  // Whether reads should pause after the request just handled (a producer
  // with too many batches waiting, say); Writer::ResumeReads starts them
  // again. Called with the writer's lock held: it must not take a lock
  // that is held while calling the writer.
  virtual bool HoldReads() const { return false; }

 private:
  void OnReadDone(bool ok) override {
    if (!ok) {
      OnClientDone();
      return;
    }
    OnRequest(request_);
    {
      absl::MutexLock lock(&writer_->mu_);
      if (finish_requested_) return;
      if (queue_.size() >= pause_reads_at_ || HoldReads()) {
        read_paused_ = true;
        return;
      }
    }
    this->StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    const Resp* next = nullptr;
    bool finish = false;
    grpc::Status finish_status;
    bool resume_reads = false;
    {
      absl::MutexLock lock(&writer_->mu_);
      queue_.pop_front();
      if (!ok) {
        // The client is gone; nothing more can be written.
        queue_.clear();
        if (!finish_requested_) {
          finish_requested_ = true;
          finish_status_ =
              grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
        }
      }
      if (!queue_.empty()) {
        next = &queue_.front();
      } else {
        writing_ = false;
        finish = TakeFinish();
        if (finish) finish_status = finish_status_;
      }
      if (read_paused_ && !finish_requested_ &&
          queue_.size() < pause_reads_at_ && !HoldReads()) {
        read_paused_ = false;
        resume_reads = true;
      }
    }
    if (next != nullptr) this->StartWrite(next);
    if (finish) this->Finish(std::move(finish_status));
    if (resume_reads) this->StartRead(&request_);
  }

  // Whether the caller is the one to call Finish now: it was requested,
  // no write or read start is under way, and nobody has yet.
  bool TakeFinish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(writer_->mu_) {
    if (!finish_requested_ || writing_ || resuming_ || finish_called_) {
      return false;
    }
    finish_called_ = true;
    return true;
  }

  void OnCancel() override {
    writer_->Finish(
        grpc::Status(grpc::StatusCode::CANCELLED, "the stream was cancelled"));
  }

  void OnDone() override {
    {
      absl::MutexLock lock(&writer_->mu_);
      writer_->stream_ = nullptr;
    }
    if (streams_ != nullptr) streams_->Remove(writer_.get());
    OnStreamEnded();
    delete this;
  }

  StreamSet* streams_;
  const size_t pause_reads_at_;
  std::shared_ptr<Writer> writer_;
  Req request_;
  std::deque<Resp> queue_ ABSL_GUARDED_BY(writer_->mu_);
  bool writing_ ABSL_GUARDED_BY(writer_->mu_) = false;
  bool finish_requested_ ABSL_GUARDED_BY(writer_->mu_) = false;
  bool read_paused_ ABSL_GUARDED_BY(writer_->mu_) = false;
  // ResumeReads is starting a read outside the lock.
  bool resuming_ ABSL_GUARDED_BY(writer_->mu_) = false;
  bool finish_called_ ABSL_GUARDED_BY(writer_->mu_) = false;
  grpc::Status finish_status_ ABSL_GUARDED_BY(writer_->mu_);
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_COMMON_BIDI_STREAM_H_
