#ifndef SWITCHBOARD_TESTS_TESTING_DELIVERY_STREAM_H_
#define SWITCHBOARD_TESTS_TESTING_DELIVERY_STREAM_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace switchboard::testing {

// A client bidi stream whose responses carry `repeated deliveries` (the
// bridge's Consume, the consumer's Subscribe), on the sync API: a reader
// thread collects the deliveries while the test writes, waits and finishes.
// Every wait is bounded by `wait`.
template <class Request, class Response>
class DeliveryStream {
 public:
  using Item =
      std::decay_t<decltype(std::declval<const Response&>().deliveries(0))>;
  using Stream = grpc::ClientReaderWriter<Request, Response>;

  // `start` opens the call on the given context.
  DeliveryStream(
      const std::function<std::unique_ptr<Stream>(grpc::ClientContext*)>& start,
      absl::Duration wait = absl::Seconds(30))
      : wait_(wait) {
    context_.set_deadline(absl::ToChronoTime(absl::Now() + absl::Minutes(2)));
    stream_ = start(&context_);
    reader_ = std::thread([this] { ReadAll(); });
  }

  ~DeliveryStream() {
    context_.TryCancel();
    Finish();
  }

  bool Write(const Request& request) { return stream_->Write(request); }
  bool WritesDone() { return stream_->WritesDone(); }

  bool Ack(const std::vector<uint64_t>& tags) {
    Request request;
    for (uint64_t tag : tags) request.mutable_ack()->add_tags(tag);
    return Write(request);
  }

  // Cancels the call, as a client that goes away does.
  void Cancel() { context_.TryCancel(); }

  // Waits until at least `n` deliveries have come (or the stream ended, or
  // the wait passed) and returns all of them so far.
  std::vector<Item> AwaitDeliveries(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return deliveries_.size() >= n || read_done_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&enough), wait_);
    return deliveries_;
  }

  // Waits until at least `n` responses have come (or the stream ended, or
  // the wait passed) and returns all of them so far, for what responses
  // carry besides deliveries.
  std::vector<Response> AwaitResponses(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return responses_.size() >= n || read_done_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&enough), wait_);
    return responses_;
  }

  size_t response_count() {
    absl::MutexLock lock(&mu_);
    return responses_.size();
  }

  size_t delivery_count() {
    absl::MutexLock lock(&mu_);
    return deliveries_.size();
  }

  // Waits (bounded) for the stream to end and returns its status; cancels
  // the call if it does not end in time.
  grpc::Status Finish() {
    if (finished_) return status_;
    {
      absl::MutexLock lock(&mu_);
      if (!mu_.AwaitWithTimeout(absl::Condition(&read_done_), wait_)) {
        context_.TryCancel();
      }
    }
    reader_.join();
    status_ = stream_->Finish();
    finished_ = true;
    return status_;
  }

 private:
  void ReadAll() {
    Response response;
    while (stream_->Read(&response)) {
      absl::MutexLock lock(&mu_);
      for (const auto& d : response.deliveries()) deliveries_.push_back(d);
      responses_.push_back(response);
    }
    absl::MutexLock lock(&mu_);
    read_done_ = true;
  }

  const absl::Duration wait_;
  grpc::ClientContext context_;
  std::unique_ptr<Stream> stream_;
  std::thread reader_;
  absl::Mutex mu_;
  std::vector<Item> deliveries_ ABSL_GUARDED_BY(mu_);
  std::vector<Response> responses_ ABSL_GUARDED_BY(mu_);
  bool read_done_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ = false;
  grpc::Status status_;
};

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_DELIVERY_STREAM_H_
