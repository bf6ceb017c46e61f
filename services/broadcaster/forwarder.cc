#include "services/broadcaster/forwarder.h"

#include <grpcpp/grpcpp.h>

#include <deque>
#include <map>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "services/common/logging.h"
#include "switchboard/v1/bridge.grpc.pb.h"

namespace switchboard::broadcaster {
namespace {

using switchboard::v1::ProduceRequest;
using switchboard::v1::ProduceResponse;
using switchboard::v1::RoutedEvent;

// Errors the bridge gives for a batch that will not succeed on retry (a
// queue declared with conflicting options, a malformed batch). Any other
// failure is retried; NOT_FOUND too, since a retry declares its queues
// again.
bool IsPermanent(grpc::StatusCode code) {
  return code == grpc::StatusCode::INVALID_ARGUMENT ||
         code == grpc::StatusCode::FAILED_PRECONDITION;
}

}  // namespace

// One Produce stream. The forwarder thread writes batches; a reader thread
// settles them as answers come. Lives until the stream breaks.
class Forwarder::Connection {
 public:
  Connection(Forwarder* forwarder, switchboard::v1::Bridge::Stub* stub)
      : forwarder_(forwarder), stream_(stub->Produce(&context_)) {
    reader_ = std::thread([this] { ReadAnswers(); });
  }

  // Sends batches until the stream breaks or the forwarder stops. Returns
  // true if at least one batch was confirmed.
  bool Pump() {
    const Options& o = forwarder_->options_;
    uint64_t next_batch_id = 1;
    if (!o.static_queues.empty()) {
      ProduceRequest declare;
      declare.set_batch_id(next_batch_id++);
      for (const std::string& q : o.static_queues) {
        declared_.insert(q);
        *declare.add_declare() = forwarder_->queue_spec_(q);
      }
      {
        absl::MutexLock lock(&mu_);
        inflight_.emplace(declare.batch_id(), declare);
      }
      if (!stream_->Write(declare)) {
        absl::MutexLock lock(&mu_);
        broken_ = true;
      }
    }
    for (;;) {
      {
        absl::MutexLock lock(&mu_);
        auto can_send = [this, &o]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return broken_ ||
                 (!paused_ && inflight_.size() < o.max_inflight_batches) ||
                 (paused_ && inflight_.empty());
        };
        mu_.Await(absl::Condition(&can_send));
        if (broken_) break;
        if (paused_) {
          // A batch failed; every answer is in. Failed batches go back
          // first, in their original order, then a pause before retrying.
          std::vector<RoutedEvent> again;
          for (auto& [id, batch] : failed_) {
            for (auto& e : *batch.mutable_events())
              again.push_back(std::move(e));
          }
          failed_.clear();
          forwarder_->buffer_->Return(std::move(again));
          // A failed batch may have failed before its declares took
          // effect (the broker went away mid-declare): declare again.
          declared_.clear();
          paused_ = false;
          mu_.Unlock();
          absl::Duration delay = o.backoff_initial;
          bool go_on = forwarder_->Backoff(&delay);
          mu_.Lock();
          if (!go_on) break;
        }
      }
      // Stop() has already waited for the buffer to drain.
      if (forwarder_->stopping_.HasBeenNotified()) break;
      std::vector<RoutedEvent> events;
      if (!forwarder_->buffer_->Take(o.batch_max_events, o.batch_max_bytes,
                                     absl::Milliseconds(50), &events)) {
        break;  // closed and empty
      }
      if (events.empty()) continue;
      ProduceRequest request;
      request.set_batch_id(next_batch_id++);
      for (RoutedEvent& e : events) {
        for (const std::string& q : e.queues()) {
          if (declared_.insert(q).second) {
            *request.add_declare() = forwarder_->queue_spec_(q);
          }
        }
        *request.add_events() = std::move(e);
      }
      bool broken;
      {
        // Recorded in flight before anything else: whatever happens next,
        // Close() returns this copy to the buffer unless it is confirmed.
        absl::MutexLock lock(&mu_);
        inflight_.emplace(request.batch_id(), request);
        broken = broken_;
      }
      // The write itself may block on flow control.
      if (broken || !stream_->Write(request)) {
        absl::MutexLock lock(&mu_);
        broken_ = true;
        break;
      }
    }
    return Close();
  }

 private:
  void ReadAnswers() {
    ProduceResponse answer;
    while (stream_->Read(&answer)) {
      absl::MutexLock lock(&mu_);
      auto it = inflight_.find(answer.batch_id());
      if (it == inflight_.end()) continue;
      const uint64_t n = it->second.events_size();
      uint64_t bytes = 0;
      for (const RoutedEvent& e : it->second.events()) {
        bytes += EventBuffer::Cost(e);
      }
      auto code = static_cast<grpc::StatusCode>(answer.code());
      if (code == grpc::StatusCode::OK) {
        forwarder_->buffer_->Release(n, bytes);
        forwarder_->forwarded_ += n;
        confirmed_any_ = true;
      } else if (IsPermanent(code)) {
        forwarder_->buffer_->Discard(n, bytes);
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
  }

  bool Close() {
    stream_->WritesDone();
    context_.TryCancel();
    reader_.join();
    grpc::Status status = stream_->Finish();
    // Everything unanswered goes back, oldest first.
    std::map<uint64_t, ProduceRequest> back = std::move(failed_);
    for (auto& [id, batch] : inflight_) back.emplace(id, std::move(batch));
    std::vector<RoutedEvent> again;
    for (auto& [id, batch] : back) {
      for (auto& e : *batch.mutable_events()) again.push_back(std::move(e));
    }
    if (!again.empty()) {
      Logger("broadcaster")
          ->warn(
              "bridge stream ended ({}); {} unconfirmed events will be "
              "sent again",
              status.error_message(), again.size());
    }
    forwarder_->buffer_->Return(std::move(again));
    return confirmed_any_;
  }

  Forwarder* const forwarder_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<ProduceRequest, ProduceResponse>>
      stream_;
  std::thread reader_;
  // Queues declared on this stream; a new stream (maybe a restarted
  // bridge) declares them again.
  absl::flat_hash_set<std::string> declared_;

  absl::Mutex mu_;
  std::map<uint64_t, ProduceRequest> inflight_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, ProduceRequest> failed_ ABSL_GUARDED_BY(mu_);
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool confirmed_any_ = false;
};

Forwarder::Forwarder(Options options, EventBuffer* buffer,
                     QueueSpecFn queue_spec)
    : options_(std::move(options)),
      buffer_(buffer),
      queue_spec_(std::move(queue_spec)) {}

Forwarder::~Forwarder() { Stop(absl::ZeroDuration()); }

void Forwarder::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Forwarder::Stop(absl::Duration flush_timeout) {
  if (!thread_.joinable()) return;
  if (!buffer_->WaitEmpty(flush_timeout)) {
    Logger("broadcaster")
        ->error(
            "shutting down with {} events not confirmed by the bridge "
            "(they are lost)",
            buffer_->stats().events);
  }
  stopping_.Notify();
  buffer_->Close();
  thread_.join();
}

Forwarder::Stats Forwarder::stats() const {
  return Stats{forwarded_.load(), connects_.load(), connected_.load()};
}

bool Forwarder::Backoff(absl::Duration* delay) {
  bool stop = stopping_.WaitForNotificationWithTimeout(*delay);
  *delay = std::min(*delay * 2, options_.backoff_max);
  return !stop;
}

void Forwarder::Run() {
  auto log = Logger("broadcaster");
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(64 << 20);
  args.SetMaxReceiveMessageSize(64 << 20);
  auto channel = grpc::CreateCustomChannel(
      options_.bridge_address, grpc::InsecureChannelCredentials(), args);
  auto stub = switchboard::v1::Bridge::NewStub(channel);
  absl::Duration delay = options_.backoff_initial;
  while (!stopping_.HasBeenNotified()) {
    // Wait for the bridge before opening a stream: a stream opened on a
    // dead channel fails at once and would spin.
    if (!channel->WaitForConnected(
            absl::ToChronoTime(absl::Now() + absl::Milliseconds(500)))) {
      if (connected_.exchange(false)) {
        log->warn("bridge {} unreachable; buffering", options_.bridge_address);
      }
      if (!Backoff(&delay)) break;
      continue;
    }
    ++connects_;
    connected_ = true;
    log->info("connected to bridge {}", options_.bridge_address);
    Connection connection(this, stub.get());
    if (connection.Pump()) delay = options_.backoff_initial;
    connected_ = false;
    if (stopping_.HasBeenNotified()) break;
    if (!Backoff(&delay)) break;
  }
}

}  // namespace switchboard::broadcaster
