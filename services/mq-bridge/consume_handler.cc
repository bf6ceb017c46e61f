#include "services/mq-bridge/consume_handler.h"

#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/common/grpc_status.h"
#include "services/common/logging.h"
#include "services/mq-bridge/delivery_encoding.h"

namespace switchboard::bridge {
namespace {

using switchboard::v1::ConsumeRequest;

// Deliveries are bounded by the prefetch window, and reading acks is what
// frees the window: a Consume stream never stops reading.
constexpr size_t kNeverPause = std::numeric_limits<size_t>::max();
constexpr uint32_t kMaxPrefetch = 65535;

// Responses are switchboard.v1.ConsumeResponse written straight from the
// transport's deliveries (delivery_encoding.h).
class ConsumeStream final
    : public BidiStream<ConsumeRequest, grpc::ByteBuffer> {
 public:
  ConsumeStream(const TransportSource& transport, StreamSet* streams,
                absl::Status refused)
      : BidiStream(streams, kNeverPause), current_transport_(transport) {
    if (!refused.ok()) {
      writer()->Finish(ToGrpcStatus(refused));
      return;
    }
    StartStream();
  }

 private:
  void OnRequest(ConsumeRequest& request) override {
    absl::Status status;
    switch (request.request_case()) {
      case ConsumeRequest::kOpen:
        status = Open(request.open());
        break;
      case ConsumeRequest::kAck:
        status = Opened();
        if (status.ok()) {
          status = subscription_->Ack(
              {request.ack().tags().data(),
               static_cast<size_t>(request.ack().tags_size())});
        }
        break;
      case ConsumeRequest::kNack:
        status = Opened();
        if (status.ok()) {
          status = subscription_->Nack(
              {request.nack().tags().data(),
               static_cast<size_t>(request.nack().tags_size())},
              request.nack().requeue());
        }
        break;
      default:
        status = absl::InvalidArgumentError(
            "empty request: set one of open, ack or nack");
    }
    if (!status.ok()) writer()->Finish(ToGrpcStatus(status));
  }

  absl::Status Opened() const {
    if (subscription_ == nullptr) {
      return absl::FailedPreconditionError(
          "the first message of a Consume stream must be 'open'");
    }
    return absl::OkStatus();
  }

  absl::Status Open(const switchboard::v1::ConsumeOpen& open) {
    if (subscription_ != nullptr) {
      return absl::FailedPreconditionError("'open' was already sent");
    }
    if (open.prefetch() == 0 || open.prefetch() > kMaxPrefetch) {
      return absl::InvalidArgumentError(absl::StrCat(
          "prefetch must be 1 to ", kMaxPrefetch, ", got ", open.prefetch()));
    }
    SubscribeOptions options;
    options.queues.assign(open.queues().begin(), open.queues().end());
    options.prefetch = open.prefetch();
    // The subscription belongs to the transport of the moment; a reload
    // ends this stream before that transport goes away.
    transport_ = current_transport_();
    auto subscription = transport_->Subscribe(
        options, [writer = writer()](std::vector<Delivery> batch) {
          writer->Send(EncodeConsumeResponse(batch));
        });
    if (!subscription.ok()) return subscription.status();
    subscription_ = *std::move(subscription);
    Logger("bridge")->debug("consuming {} (prefetch {})",
                            absl::StrJoin(options.queues, ","),
                            options.prefetch);
    return absl::OkStatus();
  }

  void OnStreamEnded() override {
    // Returns the unacked deliveries to their queues.
    subscription_.reset();
    transport_.reset();
  }

  const TransportSource current_transport_;
  std::shared_ptr<Transport> transport_;
  std::unique_ptr<Subscription> subscription_;
};

}  // namespace

ConsumeHandler::ConsumeHandler(TransportSource transport)
    : transport_(std::move(transport)) {}

grpc::ServerBidiReactor<ConsumeRequest, grpc::ByteBuffer>* ConsumeHandler::Open(
    absl::Status refused) {
  return new ConsumeStream(transport_, &streams_, std::move(refused));
}

void ConsumeHandler::EndAll(const absl::Status& status) {
  streams_.FinishAll(ToGrpcStatus(status));
}

}  // namespace switchboard::bridge
