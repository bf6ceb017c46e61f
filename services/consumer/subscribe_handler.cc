#include "services/consumer/subscribe_handler.h"

#include <algorithm>
#include <limits>
#include <string>
#include <utility>

#include "absl/algorithm/container.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "services/common/grpc_status.h"
#include "services/common/logging.h"
#include "services/common/queue_name.h"
#include "services/common/status_macros.h"

namespace switchboard::consumer {
namespace {

using switchboard::v1::ConsumeRequest;
using switchboard::v1::SubscribeRequest;
// What apps receive, with each event as the bytes the bridge delivered.
using relay::SubscribeResponse;

// Deliveries are bounded by the credit window and acks free it, so the app
// stream always reads.
constexpr size_t kNeverPause = std::numeric_limits<size_t>::max();

// Bound of an app's nack delay (those of its ack deadline:
// consumer_config.h).
constexpr absl::Duration kMaxNackDelay = absl::Hours(1);
// The most entries SubscribeOpen.acked may carry.
constexpr int kMaxResumeAcked = 65536;

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

// A duration an app sent, named `field`: zero when unset, else within
// [min, max].
absl::StatusOr<absl::Duration> AppDuration(const google::protobuf::Duration& d,
                                           absl::string_view field,
                                           absl::Duration min,
                                           absl::Duration max) {
  const absl::Duration value = FromProto(d);
  if (value == absl::ZeroDuration()) return value;
  if (value < min || value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is ", absl::FormatDuration(value),
                     "; it must be ", absl::FormatDuration(min), " to ",
                     absl::FormatDuration(max), " (or 0)"));
  }
  return value;
}

// One Subscribe stream (see SubscribeHandler) and its bridge call.
class SubscribeStream final
    : public BidiStream<SubscribeRequest, SubscribeResponse> {
 public:
  SubscribeStream(const SubscribeHandler::Resources& resources,
                  StreamSet* streams, AuthPolicy* auth,
                  absl::StatusOr<std::shared_ptr<const Identity>> who)
      : BidiStream(streams, kNeverPause),
        config_(resources.config),
        bridge_(resources.bridge),
        dedup_(resources.dedup),
        bridge_calls_(resources.bridge_calls),
        timers_(resources.timers),
        auth_(auth),
        who_(who.value_or(nullptr)) {
    if (!who.ok()) {
      writer()->Finish(ToGrpcStatus(who.status()));
      return;
    }
    StartStream();
  }

 private:
  void OnRequest(SubscribeRequest& request) override {
    switch (request.request_case()) {
      case SubscribeRequest::kOpen:
        return writer_finish_if_error(Open(request.open()));
      case SubscribeRequest::kClose:
        // After the queued deliveries; the stream's end then closes the
        // bridge call once the acks before this are written to it.
        return writer()->Finish(grpc::Status::OK);
      case SubscribeRequest::kAck:
      case SubscribeRequest::kNack:
      case SubscribeRequest::kExtend:
        break;
      default:
        return writer_finish_if_error(absl::InvalidArgumentError(
            "empty request: set one of open, ack, nack, extend or close"));
    }
    if (handle_ == nullptr) {
      return writer()->Finish(grpc::Status(
          grpc::StatusCode::FAILED_PRECONDITION,
          "the first message of a Subscribe stream must be 'open'"));
    }
    SubscribeResponse stale;
    absl::Status status = request.has_extend()
                              ? Extend(request.extend(), &stale)
                              : Settle(request, &stale);
    if (stale.stale_tags_size() > 0) writer()->Send(std::move(stale));
    writer_finish_if_error(status);
  }

  // An ack or nack: settled here and forwarded to the bridge, or, with a
  // nack delay, given back later; stale tags are answered.
  absl::Status Settle(SubscribeRequest& request, SubscribeResponse* stale) {
    ConsumeRequest forward;
    absl::Duration delay = absl::ZeroDuration();
    if (request.has_ack()) {
      *forward.mutable_ack()->mutable_tags() =
          std::move(*request.mutable_ack()->mutable_tags());
    } else {
      SB_ASSIGN_OR_RETURN(delay,
                          AppDuration(request.nack().delay(), "nack.delay",
                                      absl::ZeroDuration(), kMaxNackDelay));
      if (delay > absl::ZeroDuration() && !request.nack().requeue()) {
        return absl::InvalidArgumentError(
            "nack.delay is set without nack.requeue: a delay only applies to "
            "deliveries given back to their queue");
      }
      *forward.mutable_nack()->mutable_tags() =
          std::move(*request.mutable_nack()->mutable_tags());
      forward.mutable_nack()->set_requeue(request.nack().requeue());
    }
    const bool release = forward.has_nack() && forward.nack().requeue();
    auto& tags = forward.has_ack() ? *forward.mutable_ack()->mutable_tags()
                                   : *forward.mutable_nack()->mutable_tags();
    absl::MutexLock lock(&handle_->mu);
    int kept = 0;
    SettledKeys settled;
    for (uint64_t tag : tags) {
      // One lookup for the usual case, a tag the app holds.
      auto it = handle_->held.find(tag);
      if (it == handle_->held.end() || it->second.nack_delayed) {
        if (handle_->StateOf(tag) == CallHandle::TagState::kStale) {
          stale->add_stale_tags(tag);
          continue;
        }
        tags[kept++] = tag;  // kUnknown: the bridge will say
        continue;
      }
      if (QueueCounters* c = it->second.counters) {
        ++(forward.has_ack() ? c->acks : c->nacks);
      }
      if (delay > absl::ZeroDuration()) {
        handle_->DelayNack(tag, delay);
        continue;
      }
      tags[kept++] = handle_->Settle(it, release, &settled);
    }
    tags.Truncate(kept);
    settled.Apply();
    // Acked ids are on disk (dedup.store: file) before the acks go on: a
    // consumer killed in between still knows them when the bridge delivers
    // those events again.
    if (!release) dedup_->Flush().IgnoreError();  // logged and counted
    if (kept > 0 && handle_->call != nullptr) {
      handle_->call->Send(std::move(forward));
    }
    return absl::OkStatus();
  }

  absl::Status Extend(const switchboard::v1::Extend& extend,
                      SubscribeResponse* stale) {
    SB_ASSIGN_OR_RETURN(absl::Duration deadline,
                        AppDuration(extend.deadline(), "extend.deadline",
                                    kMinAckDeadline, kMaxAckDeadline));
    absl::MutexLock lock(&handle_->mu);
    if (deadline == absl::ZeroDuration()) deadline = handle_->ack_deadline;
    for (uint64_t tag : extend.tags()) {
      switch (handle_->StateOf(tag)) {
        case CallHandle::TagState::kStale:
          stale->add_stale_tags(tag);
          break;
        case CallHandle::TagState::kUnknown:
          return absl::NotFoundError(absl::StrCat(
              "extend.tags: tag ", tag,
              " is not a delivery this subscription holds (already acked, "
              "or never delivered)"));
        case CallHandle::TagState::kHeld:
          // With deadlines off and none asked for, nothing to push back.
          if (deadline > absl::ZeroDuration()) handle_->Extend(tag, deadline);
          break;
      }
    }
    return absl::OkStatus();
  }

  void writer_finish_if_error(const absl::Status& status) {
    if (!status.ok()) writer()->Finish(ToGrpcStatus(status));
  }

  absl::Status Open(const switchboard::v1::SubscribeOpen& open) {
    if (handle_ != nullptr) {
      return absl::FailedPreconditionError("'open' was already sent");
    }
    if (open.queues().empty()) {
      return absl::InvalidArgumentError(
          "open.queues is empty: name at least one queue, e.g. 'verbose'");
    }
    const std::string& link_prefix = config_->links.queue_prefix;
    for (const std::string& q : open.queues()) {
      SB_RETURN_IF_ERROR(ValidateQueueName(q));
      if (who_ != nullptr && !who_->subscribe.Matches(q)) {
        return auth_->Deny(*who_, absl::StrCat("subscribe to queue '", q, "'"));
      }
      // The link view holds each link's newest status unacked in its
      // queue; a subscriber would take those deliveries away from it.
      if (!link_prefix.empty() && absl::StartsWith(q, link_prefix)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "queue '", q,
            "' is a link-status queue, read by the consumer's link view: use "
            "GetLinkStatus/WatchLinkStatus"));
      }
    }
    SB_ASSIGN_OR_RETURN(absl::Duration ack_deadline,
                        AppDuration(open.ack_deadline(), "open.ack_deadline",
                                    kMinAckDeadline, kMaxAckDeadline));
    if (ack_deadline == absl::ZeroDuration()) {
      ack_deadline = config_->ack_deadline;
    }
    uint32_t credit =
        open.credit() == 0 ? config_->default_credit : open.credit();
    if (credit > config_->max_credit) {
      return absl::InvalidArgumentError(
          absl::StrCat("open.credit is ", credit, "; the limit is ",
                       config_->max_credit, " (max_credit)"));
    }
    SB_RETURN_IF_ERROR(RecordAcked(open));
    ConsumeRequest request;
    auto* bridge_open = request.mutable_open();
    *bridge_open->mutable_queues() = open.queues();
    bridge_open->set_prefetch(credit);
    Logger("consumer")
        ->info("subscription to {} (credit {}, ack deadline {})",
               absl::StrJoin(open.queues(), ","), credit,
               ack_deadline == absl::ZeroDuration()
                   ? "off"
                   : absl::FormatDuration(ack_deadline));
    SB_ASSIGN_OR_RETURN(
        handle_,
        BridgeCall::Start(bridge_, std::move(request), writer(), dedup_,
                          bridge_calls_, ack_deadline, timers_));
    return absl::OkStatus();
  }

  // Records open.acked as acked, on disk (dedup.store: file) before the
  // bridge call that could deliver them again starts.
  absl::Status RecordAcked(const switchboard::v1::SubscribeOpen& open) {
    // Twice the credit window is all an app can have lost acks of; more
    // would only push real acks out of the duplicate window.
    const uint32_t credit =
        open.credit() == 0 ? config_->default_credit : open.credit();
    const int limit =
        std::min<int64_t>(kMaxResumeAcked, 2 * static_cast<int64_t>(credit));
    if (open.acked_size() > limit) {
      return absl::InvalidArgumentError(absl::StrCat(
          "open.acked has ", open.acked_size(), " entries; the limit is ",
          limit, " (twice the credit)"));
    }
    for (int i = 0; i < open.acked_size(); ++i) {
      const switchboard::v1::AckedEvent& acked = open.acked(i);
      if (absl::c_find(open.queues(), acked.queue()) == open.queues().end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("open.acked[", i, "].queue '", acked.queue(),
                         "' is not one of open.queues"));
      }
      if (acked.id().empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("open.acked[", i, "].id is empty"));
      }
    }
    for (const switchboard::v1::AckedEvent& acked : open.acked()) {
      DedupWindow* window = dedup_->For(acked.queue());
      if (window == nullptr) return absl::OkStatus();  // deduplication off
      window->Done(DedupWindow::KeyOf(acked.id()));
    }
    if (open.acked_size() > 0) dedup_->Flush().IgnoreError();  // logged
    return absl::OkStatus();
  }

  // The app closed its side. It can still receive, so deliveries go on
  // until its credit is out: it cannot ack them, so nothing more could
  // come, and the stream then ends OK (grpcurl's -d prints `credit`
  // deliveries and exits). Before 'open' there is nothing to wait for.
  void OnClientDone() override {
    bool exhausted = true;
    if (handle_ != nullptr) {
      absl::MutexLock lock(&handle_->mu);
      handle_->app_done = true;
      exhausted = handle_->Exhausted();
    }
    if (exhausted) writer()->Finish(grpc::Status::OK);
  }

  void OnStreamEnded() override {
    if (handle_ == nullptr) return;
    absl::MutexLock lock(&handle_->mu);
    // What the app still holds goes back to the queue.
    handle_->ReleaseAll();
    if (handle_->call != nullptr) handle_->call->Close();
  }

  const ConsumerConfig* const config_;
  switchboard::v1::Bridge::Stub* const bridge_;
  DedupWindows* const dedup_;
  BridgeCalls* const bridge_calls_;
  TimerWorker* const timers_;
  AuthPolicy* const auth_;
  // The subscriber (null: auth off).
  const std::shared_ptr<const Identity> who_;
  // Set by the first 'open'. OnRequest calls never overlap and
  // OnStreamEnded comes after the last, so no lock guards the pointer.
  std::shared_ptr<CallHandle> handle_;
};

}  // namespace

grpc::ServerBidiReactor<SubscribeRequest, SubscribeResponse>*
SubscribeHandler::Open(AuthPolicy* auth,
                       absl::StatusOr<std::shared_ptr<const Identity>> who) {
  return new SubscribeStream(resources_, &streams_, auth, std::move(who));
}

}  // namespace switchboard::consumer
