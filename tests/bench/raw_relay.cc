#include "tests/bench/raw_relay.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>

#include <atomic>
#include <deque>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace switchboard::bench {
namespace {

// Large enough for any batch the benchmark sends.
constexpr int kMaxMessageBytes = 64 << 20;

// One relayed call: the caller's side (a server reactor, "up") and the
// downstream call (a client reactor, "down"), sharing one state under one
// mutex.
//
// Every reaction takes the lock, updates the state and decides what to start
// (Actions), then starts it outside the lock (gRPC may run reactions of
// other operations meanwhile, on other threads). What can end a side (the
// caller's Finish, the downstream call's last hold) is only decided when no
// thread is between deciding and starting an operation (`starting_` is 0),
// so nothing is ever started on a side that has ended. The object deletes
// itself once both sides' OnDone ran.
class RelayCall {
 public:
  RelayCall(grpc::GenericStub* stub, const std::string& method)
      : up_(this), down_(this) {
    up_.StartRead(&up_in_);
    stub->PrepareBidiStreamingCall(&down_context_, method, grpc::StubOptions(),
                                   &down_);
    down_.StartRead(&down_in_);
    // Writes and reads are started on the downstream call from the
    // caller's reactions too: the hold keeps it from ending under them
    // until its responses have ended (see PlanEnd).
    down_.AddHold();
    down_.StartCall();
    Run(Actions());
  }

  grpc::ServerGenericBidiReactor* upstream() { return &up_; }

 private:
  class Up final : public grpc::ServerGenericBidiReactor {
   public:
    explicit Up(RelayCall* call) : call_(call) {}
    void OnReadDone(bool ok) override { call_->OnUpReadDone(ok); }
    void OnWriteDone(bool ok) override { call_->OnUpWriteDone(ok); }
    void OnCancel() override { call_->OnUpCancel(); }
    void OnDone() override { call_->Release(); }

   private:
    RelayCall* const call_;
  };

  class Down final
      : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
   public:
    explicit Down(RelayCall* call) : call_(call) {}
    void OnReadDone(bool ok) override { call_->OnDownReadDone(ok); }
    void OnWriteDone(bool ok) override { call_->OnDownWriteDone(ok); }
    void OnDone(const grpc::Status& status) override {
      call_->OnDownDone(status);
    }

   private:
    RelayCall* const call_;
  };

  // What a reaction decided to start, outside the lock.
  struct Actions {
    bool cancel_down = false;
    const grpc::ByteBuffer* write_down = nullptr;
    bool writes_done_down = false;
    bool read_down = false;
    const grpc::ByteBuffer* write_up = nullptr;
    bool read_up = false;
  };

  // ---- Requests: up -> down ----

  void OnUpReadDone(bool ok) {
    Actions a;
    {
      absl::MutexLock lock(&mu_);
      ++starting_;
      if (!ok) {
        // The caller half-closed (or is gone): so does the downstream call,
        // after the requests still queued.
        up_half_closed_ = true;
        a.writes_done_down = TakeWritesDone();
      } else if (down_closed_ || up_broken_) {
        // Nowhere to go: dropped, and no more reads; the downstream status
        // ends the call.
        up_read_paused_ = true;
      } else {
        down_queue_.emplace_back();
        down_queue_.back().Swap(&up_in_);
        if (!down_writing_) {
          down_writing_ = true;
          a.write_down = &down_queue_.front();
        }
        if (down_queue_.size() < RawRelay::kMaxQueued) {
          a.read_up = true;
        } else {
          up_read_paused_ = true;
        }
      }
    }
    Run(a);
  }

  void OnDownWriteDone(bool ok) {
    Actions a;
    {
      absl::MutexLock lock(&mu_);
      ++starting_;
      down_queue_.pop_front();
      if (!ok) down_closed_ = true;  // the downstream call is over
      if (down_closed_) down_queue_.clear();
      if (!down_queue_.empty()) {
        a.write_down = &down_queue_.front();
      } else {
        down_writing_ = false;
        a.writes_done_down = TakeWritesDone();
      }
      if (up_read_paused_ && !down_closed_ && !up_broken_ &&
          down_queue_.size() < RawRelay::kMaxQueued) {
        up_read_paused_ = false;
        a.read_up = true;
      }
    }
    Run(a);
  }

  // Whether to half-close the downstream call now: the caller has, and
  // every request before is written.
  bool TakeWritesDone() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!up_half_closed_ || down_writing_ || down_closed_ ||
        writes_done_sent_) {
      return false;
    }
    writes_done_sent_ = true;
    return true;
  }

  // ---- Responses: down -> up ----

  void OnDownReadDone(bool ok) {
    Actions a;
    {
      absl::MutexLock lock(&mu_);
      ++starting_;
      if (!ok) {
        // The downstream call is over; its status comes with OnDone.
        down_read_ended_ = true;
        down_closed_ = true;
        // Requests not yet written go nowhere (the one being written
        // stays until its OnWriteDone).
        while (down_queue_.size() > (down_writing_ ? 1 : 0)) {
          down_queue_.pop_back();
        }
      } else if (up_broken_) {
        a.read_down = true;  // dropped: the caller is gone
      } else {
        up_queue_.emplace_back();
        up_queue_.back().Swap(&down_in_);
        if (!up_writing_) {
          up_writing_ = true;
          a.write_up = &up_queue_.front();
        }
        if (up_queue_.size() < RawRelay::kMaxQueued) {
          a.read_down = true;
        } else {
          down_read_paused_ = true;
        }
      }
    }
    Run(a);
  }

  void OnUpWriteDone(bool ok) {
    Actions a;
    {
      absl::MutexLock lock(&mu_);
      ++starting_;
      up_queue_.pop_front();
      if (!ok) BreakUp(&a);
      if (!up_queue_.empty()) {
        a.write_up = &up_queue_.front();
      } else {
        up_writing_ = false;
      }
      if (down_read_paused_ && up_queue_.size() < RawRelay::kMaxQueued) {
        down_read_paused_ = false;
        a.read_down = true;
      }
    }
    Run(a);
  }

  void OnUpCancel() {
    Actions a;
    {
      absl::MutexLock lock(&mu_);
      ++starting_;
      BreakUp(&a);
    }
    Run(a);
  }

  // The caller is gone: drop what waits for it and cancel the downstream
  // call, reading it again if paused so that its end is seen.
  void BreakUp(Actions* a) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!up_broken_) a->cancel_down = true;
    up_broken_ = true;
    while (up_queue_.size() > (up_writing_ ? 1 : 0)) up_queue_.pop_back();
    if (down_read_paused_) {
      down_read_paused_ = false;
      a->read_down = true;
    }
  }

  // ---- Ends ----

  void OnDownDone(const grpc::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      ++starting_;
      down_done_ = true;
      down_status_ = status;
    }
    Run(Actions());
    Release();
  }

  // Starts what a reaction decided, then, if no other thread is starting
  // anything, whatever ends a side.
  void Run(const Actions& a) {
    if (a.cancel_down) down_context_.TryCancel();
    if (a.write_down != nullptr) down_.StartWrite(a.write_down);
    if (a.writes_done_down) down_.StartWritesDone();
    if (a.read_down) down_.StartRead(&down_in_);
    if (a.write_up != nullptr) up_.StartWrite(a.write_up);
    if (a.read_up) up_.StartRead(&up_in_);
    bool remove_hold = false;
    bool finish_up = false;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      if (--starting_ > 0) return;
      // The downstream call may end once its responses have ended and no
      // request write is outstanding: nothing more is started on it then.
      if (!hold_removed_ && down_read_ended_ && !down_writing_) {
        hold_removed_ = true;
        remove_hold = true;
      }
      // The caller's call ends with the downstream status, after every
      // response before it.
      if (!up_finished_ && down_done_ && !up_writing_) {
        up_finished_ = true;
        finish_up = true;
        status = down_status_;
      }
    }
    // Either may end the object (their OnDone may run at once on another
    // thread): the last things done here. Never both in one call: the
    // caller is finished only after the downstream OnDone, which waits for
    // the hold's removal.
    if (remove_hold) down_.RemoveHold();
    if (finish_up) up_.Finish(std::move(status));
  }

  // Each side's OnDone calls this once; the second deletes.
  void Release() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  Up up_;
  Down down_;
  grpc::ClientContext down_context_;
  // Where reads land; each read's message is swapped into a queue.
  grpc::ByteBuffer up_in_;
  grpc::ByteBuffer down_in_;
  std::atomic<int> refs_{2};

  absl::Mutex mu_;
  // Threads between deciding to start operations and having started them.
  // The constructor counts as one until its end: nothing ends before both
  // sides are started.
  int starting_ ABSL_GUARDED_BY(mu_) = 1;
  // Requests to write downstream; the front one is being written while
  // down_writing_.
  std::deque<grpc::ByteBuffer> down_queue_ ABSL_GUARDED_BY(mu_);
  bool down_writing_ ABSL_GUARDED_BY(mu_) = false;
  bool up_read_paused_ ABSL_GUARDED_BY(mu_) = false;
  bool up_half_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool writes_done_sent_ ABSL_GUARDED_BY(mu_) = false;
  // Nothing more can be written downstream.
  bool down_closed_ ABSL_GUARDED_BY(mu_) = false;
  // Responses to write to the caller; the front one is being written while
  // up_writing_.
  std::deque<grpc::ByteBuffer> up_queue_ ABSL_GUARDED_BY(mu_);
  bool up_writing_ ABSL_GUARDED_BY(mu_) = false;
  bool down_read_paused_ ABSL_GUARDED_BY(mu_) = false;
  bool down_read_ended_ ABSL_GUARDED_BY(mu_) = false;
  // The caller cancelled or cannot be written to.
  bool up_broken_ ABSL_GUARDED_BY(mu_) = false;
  bool hold_removed_ ABSL_GUARDED_BY(mu_) = false;
  bool down_done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status down_status_ ABSL_GUARDED_BY(mu_);
  bool up_finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

class RawRelay::Service final : public grpc::CallbackGenericService {
 public:
  explicit Service(const std::string& to)
      : stub_([&] {
          grpc::ChannelArguments args;
          args.SetMaxReceiveMessageSize(kMaxMessageBytes);
          return grpc::CreateCustomChannel(
              to, grpc::InsecureChannelCredentials(), args);
        }()) {}

  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override {
    return (new RelayCall(&stub_, context->method()))->upstream();
  }

 private:
  grpc::GenericStub stub_;
};

RawRelay::RawRelay(std::unique_ptr<Service> service,
                   std::unique_ptr<grpc::Server> server, int port)
    : service_(std::move(service)), server_(std::move(server)), port_(port) {}

absl::StatusOr<std::unique_ptr<RawRelay>> RawRelay::Start(
    const std::string& listen, const std::string& to) {
  auto service = std::make_unique<Service>(to);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterCallbackGenericService(service.get());
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen));
  }
  return std::unique_ptr<RawRelay>(
      new RawRelay(std::move(service), std::move(server), port));
}

RawRelay::~RawRelay() { Shutdown(absl::Seconds(1)); }

void RawRelay::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
}

}  // namespace switchboard::bench
