#include "services/consumer/link_stream.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "services/common/client_bidi_stream.h"
#include "services/common/grpc_status.h"
#include "services/common/logging.h"

namespace switchboard::consumer {
namespace {

using switchboard::v1::ConsumeRequest;
using switchboard::v1::ConsumeResponse;

// The bridge's largest prefetch.
constexpr uint64_t kMaxCredit = 65535;
// Bound on a GetQueueStats call.
constexpr absl::Duration kRpcTimeout = absl::Seconds(10);
// How long a closing stream may take to hand its deliveries back before it
// is cancelled (which hands them back too, but may lose the last acks).
constexpr absl::Duration kCloseTimeout = absl::Seconds(5);

// Every link holds one delivery; the rest is room for the newer statuses
// that arrive before the ones they replace are acked, and for the copies a
// broker may keep when held deliveries go back to their queues.
uint32_t CreditFor(size_t links) {
  return static_cast<uint32_t>(
      std::min<uint64_t>(kMaxCredit, 2 * static_cast<uint64_t>(links) + 64));
}

absl::Status WithContext(const grpc::Status& status, absl::string_view what) {
  absl::Status s = FromGrpcStatus(status);
  return absl::Status(s.code(), absl::StrCat(what, ": ", s.message()));
}

}  // namespace

// One Consume stream over the link queues: applies each response to the
// core and acks what it supersedes. Owned by the LinkStream, which destroys
// it only once it has ended.
class LinkStream::ConsumeCall final
    : public ClientBidiStream<ConsumeRequest, ConsumeResponse> {
 public:
  // `generation` numbers this stream for `core`: tags are only valid on
  // the stream that delivered them.
  ConsumeCall(LinkViewCore* core, uint64_t generation)
      : core_(core), generation_(generation) {}

  using ClientBidiStream::context;

  // Starts the call with `open` as its first request; nothing is read
  // before Read().
  void Start(switchboard::v1::Bridge::Stub* bridge, ConsumeRequest open) {
    bridge->async()->Consume(context(), this);
    Send(std::move(open));
    StartStreamWithoutReads();
  }
  // Waits until the first request is written (true) or cannot be (false:
  // the call is over). Cancelling the context ends the wait.
  bool AwaitOpened() {
    opened_.WaitForNotification();
    return open_written_;
  }
  // Starts reading, and applying, the deliveries. The call cannot end
  // before.
  void Read() { StartReads(); }
  // Waits at most `timeout` for the end of the call; whether it came.
  bool AwaitEnd(absl::Duration timeout) {
    return end_.WaitForNotificationWithTimeout(timeout);
  }
  bool ended() const { return end_.HasBeenNotified(); }
  // How the call ended, once ended().
  const grpc::Status& status() const { return status_; }

 private:
  void OnResponse(ConsumeResponse& response) override {
    std::vector<uint64_t> acks = core_->Apply(response, generation_);
    if (acks.empty()) return;
    ConsumeRequest request;
    request.mutable_ack()->mutable_tags()->Add(acks.begin(), acks.end());
    // Dropped once the stream is closing or over. Acks that miss a closing
    // stream are harmless: those deliveries come back older than what the
    // view holds, and are acked then.
    Send(std::move(request));
  }

  void OnRequestWritten(bool ok) override {
    if (opened_.HasBeenNotified()) return;
    open_written_ = ok;
    opened_.Notify();
  }

  void OnStreamEnded(const grpc::Status& status) override {
    status_ = status;
    end_.Notify();
  }

  LinkViewCore* const core_;
  const uint64_t generation_;
  bool open_written_ = false;  // set before opened_
  absl::Notification opened_;
  grpc::Status status_;  // set before end_ is notified
  absl::Notification end_;
};

LinkStream::LinkStream(LinkViewConfig config,
                       std::shared_ptr<grpc::Channel> channel,
                       LinkViewCore* core)
    : config_(std::move(config)),
      bridge_(switchboard::v1::Bridge::NewStub(std::move(channel))),
      core_(core) {}

LinkStream::~LinkStream() { Stop(); }

void LinkStream::Start() {
  thread_ = std::thread([this] { Run(); });
}

void LinkStream::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (rpc_context_ != nullptr) rpc_context_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
  // The thread closed it on its way out; this is for a stream never
  // started.
  CloseStream();
}

bool LinkStream::BeginRpc(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return false;
  rpc_context_ = context;
  return true;
}

void LinkStream::EndRpc() {
  absl::MutexLock lock(&mu_);
  rpc_context_ = nullptr;
}

void LinkStream::Run() {
  auto log = Logger("consumer");
  absl::Duration backoff = config_.backoff_initial;
  bool failing = false;
  for (;;) {
    absl::Status status = Discover();
    absl::Duration wait = config_.discovery_interval;
    if (status.ok()) {
      if (failing) log->info("link view: the bridge answers again");
      failing = false;
      backoff = config_.backoff_initial;
    } else {
      // One warning per outage; the retries are debug noise.
      if (!failing) {
        log->warn("link view: {}; retrying", status.ToString());
      } else {
        log->debug("link view: {}; retrying in {}", status.ToString(),
                   absl::FormatDuration(backoff));
      }
      failing = true;
      wait = backoff;
      backoff = std::min(backoff * 2, config_.backoff_max);
    }
    absl::MutexLock lock(&mu_);
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), wait)) break;
  }
  CloseStream();
}

absl::Status LinkStream::Discover() {
  switchboard::v1::GetQueueStatsRequest request;
  switchboard::v1::GetQueueStatsResponse response;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kRpcTimeout));
  if (!BeginRpc(&context)) return absl::CancelledError("stopping");
  grpc::Status status = bridge_->GetQueueStats(&context, request, &response);
  EndRpc();
  if (!status.ok()) return WithContext(status, "reading the bridge's queues");

  std::vector<std::string> queues = LinkQueues(response);
  const bool broke = stream_ != nullptr && stream_->ended();
  const bool grew = !std::includes(stream_queues_.begin(), stream_queues_.end(),
                                   queues.begin(), queues.end());
  if (stream_ != nullptr && !broke && !grew) return absl::OkStatus();
  if (broke) {
    Logger("consumer")
        ->warn(
            "link view: the stream over the link queues ended ({}: {}); "
            "reopening",
            static_cast<int>(stream_->status().error_code()),
            stream_->status().error_message());
  }
  // The held deliveries go back to their queues and come again on the new
  // stream; the view keeps showing them meanwhile.
  CloseStream();
  if (queues.empty()) return absl::OkStatus();
  return OpenStream(std::move(queues));
}

std::vector<std::string> LinkStream::LinkQueues(
    const switchboard::v1::GetQueueStatsResponse& response) {
  std::vector<std::string> queues;
  for (const auto& q : response.queues()) {
    if (!absl::StartsWith(q.name(), config_.queue_prefix)) continue;
    // The view acks (drops) whatever is not a link status: a prefix that
    // also matched ordinary queues must not eat their events.
    if (!q.last_value()) {
      if (skipped_.insert(q.name()).second) {
        Logger("consumer")
            ->warn(
                "link view: queue '{}' has the link prefix but is not a "
                "last-value queue; left alone",
                q.name());
      }
      continue;
    }
    queues.push_back(q.name());
  }
  std::sort(queues.begin(), queues.end());
  return queues;
}

absl::Status LinkStream::OpenStream(std::vector<std::string> queues) {
  std::unique_ptr<ConsumeCall> call;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::CancelledError("stopping");
    call = std::make_unique<ConsumeCall>(core_, ++generation_);
    rpc_context_ = call->context();
  }
  const uint32_t credit = CreditFor(queues.size());
  ConsumeRequest open;
  open.mutable_open()->mutable_queues()->Add(queues.begin(), queues.end());
  open.mutable_open()->set_prefetch(credit);
  call->Start(bridge_.get(), std::move(open));
  const bool sent = call->AwaitOpened();
  EndRpc();
  if (!sent) {
    // The call is over; its reads end at once, and then the call.
    call->Read();
    call->AwaitEnd(absl::InfiniteDuration());
    return WithContext(call->status(), "consuming the link queues");
  }
  core_->CountStreamOpened();
  auto log = Logger("consumer");
  log->info("link view: consuming {} link queues (credit {})", queues.size(),
            credit);
  if (credit == kMaxCredit) {
    log->warn(
        "link view: {} link queues need more credit than a stream has "
        "({}): statuses of some links may wait; spread the links over "
        "several consumers",
        queues.size(), kMaxCredit);
  }
  // Only now: no status is applied before the stream counts as opened.
  call->Read();
  stream_ = std::move(call);
  stream_queues_ = std::move(queues);
  return absl::OkStatus();
}

void LinkStream::CloseStream() {
  if (stream_ == nullptr) return;
  stream_->Close();
  if (!stream_->AwaitEnd(kCloseTimeout)) {
    stream_->Cancel();
    stream_->AwaitEnd(absl::InfiniteDuration());
  }
  stream_.reset();
  stream_queues_.clear();
}

}  // namespace switchboard::consumer
