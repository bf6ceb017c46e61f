#include "services/broadcaster/publish_handler.h"

#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "services/common/grpc_status.h"

namespace switchboard::broadcaster {
namespace {

using switchboard::v1::PublishRequest;
using switchboard::v1::PublishResponse;

// The answers of one Publish stream, in batch order: a CONFIRMED batch's
// answer waits for the transport, and every later answer waits behind it.
// Shared by the stream and the callbacks of its waiting batches, which may
// run after the stream has ended (their answers are then dropped).
class AnswerQueue {
 public:
  using Writer = BidiStream<PublishRequest, PublishResponse>::Writer;

  AnswerQueue(std::shared_ptr<Writer> writer, size_t max_unanswered)
      : writer_(std::move(writer)), max_unanswered_(max_unanswered) {}

  // A place for the next batch's answer.
  uint64_t Open() {
    absl::MutexLock lock(&mu_);
    slots_.emplace_back();
    ++unanswered_;
    return first_slot_ + slots_.size() - 1;
  }

  // Fills `slot`; sends every answer now complete at the front, in order.
  void Fill(uint64_t slot, PublishResponse response) {
    bool was_full, finish;
    {
      absl::MutexLock lock(&mu_);
      was_full = full();
      slots_[slot - first_slot_] = std::move(response);
      // Sent under the lock, so answers filled on two threads go out in
      // slot order.
      while (!slots_.empty() && slots_.front().has_value()) {
        writer_->Send(*std::move(slots_.front()));
        slots_.pop_front();
        ++first_slot_;
        --unanswered_;
      }
      finish = client_done_ && slots_.empty();
    }
    if (finish) writer_->Finish(grpc::Status::OK);
    if (was_full && !full()) writer_->ResumeReads();
  }

  // The producer sent its last batch: the stream ends OK once every batch
  // is answered.
  void ClientDone() {
    bool finish;
    {
      absl::MutexLock lock(&mu_);
      client_done_ = true;
      finish = slots_.empty();
    }
    if (finish) writer_->Finish(grpc::Status::OK);
  }

  // Too many batches wait for their answer: the stream stops reading.
  // Lock-free, for BidiStream::HoldReads.
  bool full() const { return unanswered_.load() >= max_unanswered_; }

 private:
  const std::shared_ptr<Writer> writer_;
  const size_t max_unanswered_;
  absl::Mutex mu_;
  std::deque<std::optional<PublishResponse>> slots_ ABSL_GUARDED_BY(mu_);
  uint64_t first_slot_ ABSL_GUARDED_BY(mu_) = 0;
  bool client_done_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<size_t> unanswered_{0};
};

class PublishStream final : public BidiStream<PublishRequest, PublishResponse> {
 public:
  // `header_error`: the stream ends with it at once (bad headers, or
  // credentials refused); `who` is the producer (null: auth off).
  // `auth` (null: not configured) is asked again for the producer's
  // identity when its settings change (a reload) while the stream is open.
  PublishStream(const PublishHandler::AcceptFn* accept, StreamSet* streams,
                size_t max_pending, switchboard::v1::Acceptance level,
                absl::Status header_error, AuthPolicy* auth,
                grpc::CallbackServerContext* context,
                std::shared_ptr<const Identity> who)
      : BidiStream(streams, max_pending),
        accept_(accept),
        level_(level),
        auth_(auth),
        context_(context),
        auth_generation_(auth != nullptr ? auth->generation() : 0),
        who_(std::move(who)),
        answers_(std::make_shared<AnswerQueue>(writer(), max_pending)) {
    if (!header_error.ok()) {
      writer()->Finish(ToGrpcStatus(header_error));
      return;
    }
    StartStream();
  }

 private:
  void OnRequest(PublishRequest& request) override {
    if (auth_ != nullptr && auth_->generation() != auth_generation_) {
      auth_generation_ = auth_->generation();
      absl::StatusOr<std::shared_ptr<const Identity>> who =
          auth_->Authenticate(*context_);
      if (!who.ok()) {
        writer()->Finish(ToGrpcStatus(who.status()));
        return;
      }
      who_ = *std::move(who);
    }
    const uint64_t slot = answers_->Open();
    const switchboard::v1::Acceptance level =
        request.acceptance() == switchboard::v1::ACCEPTANCE_UNSPECIFIED
            ? level_
            : request.acceptance();
    (*accept_)(
        request, level,
        [answers = answers_, slot](PublishResponse response) {
          answers->Fill(slot, std::move(response));
        },
        who_.get());
  }

  bool HoldReads() const override { return answers_->full(); }
  void OnClientDone() override { answers_->ClientDone(); }

  // The handler's, which outlives its streams.
  const PublishHandler::AcceptFn* const accept_;
  // The stream's level, for batches that leave theirs unset.
  const switchboard::v1::Acceptance level_;
  AuthPolicy* const auth_;
  grpc::CallbackServerContext* const context_;
  // OnRequest calls never overlap: the stream's reader owns these.
  uint64_t auth_generation_;
  std::shared_ptr<const Identity> who_;
  const std::shared_ptr<AnswerQueue> answers_;
};

// The stream's acceptance level from the `switchboard-acceptance` request
// header: BUFFERED without it.
absl::StatusOr<switchboard::v1::Acceptance> StreamAcceptance(
    const grpc::CallbackServerContext* context) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find(std::string(kAcceptanceHeader));
  if (it == metadata.end()) return switchboard::v1::BUFFERED;
  const absl::string_view value(it->second.data(), it->second.size());
  if (absl::EqualsIgnoreCase(value, "buffered")) {
    return switchboard::v1::BUFFERED;
  }
  if (absl::EqualsIgnoreCase(value, "confirmed")) {
    return switchboard::v1::CONFIRMED;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("header ", kAcceptanceHeader, ": '", value,
                   "' is not 'buffered' or 'confirmed'"));
}

}  // namespace

PublishHandler::PublishHandler(AcceptFn accept,
                               std::function<uint32_t()> max_pending_batches)
    : accept_(std::move(accept)),
      max_pending_batches_(std::move(max_pending_batches)) {}

grpc::ServerBidiReactor<PublishRequest, PublishResponse>* PublishHandler::Open(
    grpc::CallbackServerContext* context, AuthPolicy* auth) {
  const uint32_t max_pending = max_pending_batches_();
  absl::StatusOr<std::shared_ptr<const Identity>> who =
      auth != nullptr ? auth->Authenticate(*context)
                      : std::shared_ptr<const Identity>();
  absl::StatusOr<switchboard::v1::Acceptance> level = StreamAcceptance(context);
  return new PublishStream(&accept_, &streams_, max_pending,
                           level.value_or(switchboard::v1::BUFFERED),
                           who.ok() ? level.status() : who.status(), auth,
                           context,
                           who.value_or(std::shared_ptr<const Identity>()));
}

}  // namespace switchboard::broadcaster
