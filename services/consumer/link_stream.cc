#include "services/consumer/link_stream.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
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

struct LinkStream::ConsumeCall {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<ConsumeRequest, ConsumeResponse>>
      stream;
  // Tags are only valid on the stream that delivered them.
  uint64_t generation = 0;
  // Write and WritesDone come from two threads; gRPC allows one at a time.
  absl::Mutex write_mu;
  bool writes_done ABSL_GUARDED_BY(write_mu) = false;
  std::thread reader;
  // The reader saw the end; `status` is set.
  absl::Notification ended;
  grpc::Status status;
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
  const bool broke = stream_ != nullptr && stream_->ended.HasBeenNotified();
  const bool grew = !std::includes(stream_queues_.begin(), stream_queues_.end(),
                                   queues.begin(), queues.end());
  if (stream_ != nullptr && !broke && !grew) return absl::OkStatus();
  if (broke) {
    Logger("consumer")
        ->warn(
            "link view: the stream over the link queues ended ({}: {}); "
            "reopening",
            static_cast<int>(stream_->status.error_code()),
            stream_->status.error_message());
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
  auto call = std::make_unique<ConsumeCall>();
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::CancelledError("stopping");
    call->generation = ++generation_;
    rpc_context_ = &call->context;
  }
  const uint32_t credit = CreditFor(queues.size());
  ConsumeRequest open;
  open.mutable_open()->mutable_queues()->Add(queues.begin(), queues.end());
  open.mutable_open()->set_prefetch(credit);
  call->stream = bridge_->Consume(&call->context);
  const bool sent = call->stream->Write(open);
  EndRpc();
  if (!sent) {
    return WithContext(call->stream->Finish(), "consuming the link queues");
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
  ConsumeCall* raw = call.get();
  call->reader = std::thread([this, raw] { ReadStream(raw); });
  stream_ = std::move(call);
  stream_queues_ = std::move(queues);
  return absl::OkStatus();
}

void LinkStream::CloseStream() {
  if (stream_ == nullptr) return;
  ConsumeCall* call = stream_.get();
  {
    absl::MutexLock lock(&call->write_mu);
    if (!call->writes_done) {
      call->writes_done = true;
      call->stream->WritesDone();
    }
  }
  if (!call->ended.WaitForNotificationWithTimeout(kCloseTimeout)) {
    call->context.TryCancel();
  }
  call->reader.join();
  stream_.reset();
  stream_queues_.clear();
}

void LinkStream::ReadStream(ConsumeCall* call) {
  ConsumeResponse response;
  while (call->stream->Read(&response)) {
    std::vector<uint64_t> acks = core_->Apply(response, call->generation);
    if (acks.empty()) continue;
    ConsumeRequest request;
    request.mutable_ack()->mutable_tags()->Add(acks.begin(), acks.end());
    absl::MutexLock lock(&call->write_mu);
    // A failed write shows as the end of the reads. Acks that miss a
    // closing stream are harmless: those deliveries come back older than
    // what the view holds, and are acked then.
    if (!call->writes_done) call->stream->Write(request);
  }
  {
    absl::MutexLock lock(&call->write_mu);
    call->writes_done = true;
  }
  call->status = call->stream->Finish();
  call->ended.Notify();
}

}  // namespace switchboard::consumer
