#include "services/consumer/link_view.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "services/common/link_event.h"
#include "services/common/logging.h"
#include "services/common/grpc_status.h"

namespace switchboard::consumer {
namespace {

using switchboard::v1::ConsumeRequest;
using switchboard::v1::ConsumeResponse;
using switchboard::v1::Event;
using switchboard::v1::LinkState;
using switchboard::v1::WatchLinkStatusRequest;
using switchboard::v1::WatchLinkStatusResponse;

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

// Ends at once; used when a watch cannot start.
class RefusedWatchCall final
    : public grpc::ServerWriteReactor<WatchLinkStatusResponse> {
 public:
  explicit RefusedWatchCall(const absl::Status& status) {
    Finish(ToGrpcStatus(status));
  }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerWriteReactor<WatchLinkStatusResponse>* RefusedWatch(
    const absl::Status& status) {
  return new RefusedWatchCall(status);
}

// ------------------------------------------------------- PendingLinkStates

void PendingLinkStates::Add(LinkState state, bool initial) {
  auto [it, inserted] = pending_.try_emplace(state.link_id());
  if (inserted) {
    order_.push_back(state.link_id());
    it->second.set_initial(initial);
  }
  *it->second.mutable_link() = std::move(state);
}

bool PendingLinkStates::Pop(WatchLinkStatusResponse* out) {
  if (order_.empty()) return false;
  auto it = pending_.find(order_.front());
  *out = std::move(it->second);
  pending_.erase(it);
  order_.pop_front();
  return true;
}

// ---------------------------------------------------------------- Watches

// The part of a watch that the view's notifying thread reaches. It outlives
// the gRPC call (the view holds it until OnDone unregisters it) and only
// touches the call while the call cannot be done: between deciding to
// write and that write's completion, Finish is never called, and OnDone
// only comes after Finish.
class LinkView::Watcher {
 public:
  explicit Watcher(absl::flat_hash_set<std::string> only)
      : only_(std::move(only)) {}

  bool Wants(const std::string& link_id) const {
    return only_.empty() || only_.contains(link_id);
  }

  void Attach(WatchCall* call) {
    absl::MutexLock lock(&mu_);
    call_ = call;
  }

  // A state known when the watch began; queued before the view can notify
  // any change, so the initial states go first.
  void Seed(const LinkState& state) {
    absl::MutexLock lock(&mu_);
    pending_.Add(state, /*initial=*/true);
  }

  // Queues a change and writes it if no write is under way. Never blocks
  // on the client: a slow one just has more links pending.
  void Offer(const LinkState& state) {
    absl::MutexLock lock(&mu_);
    if (call_ == nullptr || finish_requested_) return;
    pending_.Add(state, /*initial=*/false);
    StartNextWriteLocked();
  }

  // Starts writing what Seed queued.
  void Kick() {
    absl::MutexLock lock(&mu_);
    if (call_ == nullptr || finish_requested_) return;
    StartNextWriteLocked();
  }

  // Ends the call once the write under way (if any) is done; what is still
  // pending is not sent. Only the first call counts.
  void Finish(grpc::Status status);

  void WriteDone(bool ok);

  void Detach() {
    absl::MutexLock lock(&mu_);
    call_ = nullptr;
  }

 private:
  void StartNextWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const absl::flat_hash_set<std::string> only_;
  absl::Mutex mu_;
  WatchCall* call_ ABSL_GUARDED_BY(mu_) = nullptr;
  PendingLinkStates pending_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_requested_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status finish_status_ ABSL_GUARDED_BY(mu_);
};

// One WatchLinkStatus call. gRPC owns it; it deletes itself in OnDone.
class LinkView::WatchCall final
    : public grpc::ServerWriteReactor<WatchLinkStatusResponse> {
 public:
  WatchCall(LinkView* view, std::shared_ptr<Watcher> watcher)
      : view_(view), watcher_(std::move(watcher)) {
    watcher_->Attach(this);
  }

  // The response being written; only the writer of the moment touches it.
  WatchLinkStatusResponse response;

 private:
  void OnWriteDone(bool ok) override { watcher_->WriteDone(ok); }

  void OnCancel() override {
    watcher_->Finish(
        grpc::Status(grpc::StatusCode::CANCELLED, "the watch was cancelled"));
  }

  void OnDone() override {
    watcher_->Detach();
    view_->RemoveWatcher(watcher_.get());
    delete this;
  }

  LinkView* const view_;
  const std::shared_ptr<Watcher> watcher_;
};

// StartWrite and Finish under mu_ are safe: gRPC never runs a server
// reactor's OnWriteDone inline, nor OnDone of a reactor that is not
// InternalInlineable (which takes mu_ in Detach); and a write or finish
// started before gRPC has bound the reactor is kept until it does.
void LinkView::Watcher::StartNextWriteLocked() {
  if (writing_ || !pending_.Pop(&call_->response)) return;
  writing_ = true;
  call_->StartWrite(&call_->response);
}

void LinkView::Watcher::Finish(grpc::Status status) {
  absl::MutexLock lock(&mu_);
  if (call_ == nullptr || finish_requested_) return;
  finish_requested_ = true;
  finish_status_ = std::move(status);
  if (!writing_) call_->Finish(finish_status_);
  // Otherwise WriteDone finishes.
}

void LinkView::Watcher::WriteDone(bool ok) {
  absl::MutexLock lock(&mu_);
  writing_ = false;
  if (!ok && !finish_requested_) {
    finish_requested_ = true;
    finish_status_ =
        grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
  }
  if (finish_requested_) {
    call_->Finish(finish_status_);
    return;
  }
  StartNextWriteLocked();
}

grpc::ServerWriteReactor<WatchLinkStatusResponse>* LinkView::Watch(
    const WatchLinkStatusRequest& request) {
  absl::flat_hash_set<std::string> only;
  for (int i = 0; i < request.link_ids_size(); ++i) {
    if (request.link_ids(i).empty()) {
      return RefusedWatch(absl::InvalidArgumentError(
          absl::StrCat("link_ids[", i, "] is empty")));
    }
    only.insert(request.link_ids(i));
  }
  auto watcher = std::make_shared<Watcher>(std::move(only));
  auto* call = new WatchCall(this, watcher);
  bool stopping;
  {
    absl::MutexLock lock(&mu_);
    stopping = stopping_;
    if (!stopping) {
      // Seeded and registered in one step under mu_: each change is either
      // in the snapshot or notified to the watcher, never both or neither.
      for (const auto& [link_id, held] : links_) {
        if (watcher->Wants(link_id)) watcher->Seed(held.state);
      }
      watchers_.emplace(watcher.get(), watcher);
    }
  }
  if (stopping) {
    watcher->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 "the service is shutting down"));
  } else {
    watcher->Kick();
  }
  return call;
}

void LinkView::RemoveWatcher(Watcher* watcher) {
  absl::MutexLock lock(&mu_);
  watchers_.erase(watcher);
}

// ---------------------------------------------------------------- LinkView

struct LinkView::ConsumeCall {
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

LinkView::LinkView(LinkViewConfig config,
                   std::shared_ptr<grpc::Channel> channel)
    : config_(std::move(config)),
      bridge_(switchboard::v1::Bridge::NewStub(std::move(channel))) {}

LinkView::~LinkView() { Stop(); }

void LinkView::Start() {
  thread_ = std::thread([this] { Run(); });
}

void LinkView::Stop() {
  std::vector<std::shared_ptr<Watcher>> watchers;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (rpc_context_ != nullptr) rpc_context_->TryCancel();
    for (const auto& [key, watcher] : watchers_) watchers.push_back(watcher);
  }
  for (const auto& watcher : watchers) {
    watcher->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 "the service is shutting down"));
  }
  if (thread_.joinable()) thread_.join();
  // The thread closed it on its way out; this is for a view never started.
  CloseStream();
}

absl::StatusOr<LinkState> LinkView::Get(absl::string_view link_id) const {
  if (link_id.empty()) {
    return absl::InvalidArgumentError(
        "link_id is empty: name a link, as the controller names it");
  }
  absl::MutexLock lock(&mu_);
  auto it = links_.find(std::string(link_id));
  if (it == links_.end()) {
    return absl::NotFoundError(
        absl::StrCat("no status seen for link '", link_id, "'"));
  }
  return it->second.state;
}

std::vector<LinkState> LinkView::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<LinkState> out;
  out.reserve(links_.size());
  for (const auto& [link_id, held] : links_) out.push_back(held.state);
  return out;
}

LinkViewCounters LinkView::counters() const {
  absl::MutexLock lock(&mu_);
  LinkViewCounters out = counters_;
  out.watches = watchers_.size();
  return out;
}

bool LinkView::BeginRpc(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return false;
  rpc_context_ = context;
  return true;
}

void LinkView::EndRpc() {
  absl::MutexLock lock(&mu_);
  rpc_context_ = nullptr;
}

void LinkView::Run() {
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

absl::Status LinkView::Discover() {
  switchboard::v1::GetQueueStatsRequest request;
  switchboard::v1::GetQueueStatsResponse response;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kRpcTimeout));
  if (!BeginRpc(&context)) return absl::CancelledError("stopping");
  grpc::Status status = bridge_->GetQueueStats(&context, request, &response);
  EndRpc();
  if (!status.ok()) return WithContext(status, "reading the bridge's queues");

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

absl::Status LinkView::OpenStream(std::vector<std::string> queues) {
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
  {
    absl::MutexLock lock(&mu_);
    ++counters_.streams_opened;
  }
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

void LinkView::CloseStream() {
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

void LinkView::ReadStream(ConsumeCall* call) {
  ConsumeResponse response;
  while (call->stream->Read(&response)) {
    std::vector<uint64_t> acks = Apply(response, call->generation);
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

std::vector<uint64_t> LinkView::Apply(ConsumeResponse& response,
                                      uint64_t generation) {
  struct Report {
    uint64_t tag;
    Event event;
    LinkReport link;
  };
  std::vector<uint64_t> acks;
  std::vector<Report> reports;
  reports.reserve(response.deliveries_size());
  for (const auto& d : response.deliveries()) {
    Report r{d.tag(), Event(), LinkReport()};
    std::optional<LinkReport> link;
    if (r.event.ParseFromString(d.event())) link = ReadLinkReport(r.event);
    if (!link.has_value()) {
      // Nothing to show, and left unacked it would sit in the queue
      // forever.
      Logger("consumer")
          ->warn("link view: event {} in {} reports no link status; dropped",
                 d.id(), d.queue());
      acks.push_back(d.tag());
      continue;
    }
    r.link = *std::move(link);
    reports.push_back(std::move(r));
  }

  std::vector<LinkState> changes;
  std::vector<std::shared_ptr<Watcher>> watchers;
  {
    absl::MutexLock lock(&mu_);
    counters_.invalid += response.deliveries_size() - reports.size();
    for (Report& r : reports) {
      auto [it, first] = links_.try_emplace(r.link.link_id);
      Held& held = it->second;
      // Generations start at 1: 0 means no delivery holds the link.
      const bool live = held.generation == generation;
      const Event& shown = held.state.event();
      if (first || IsNewerLinkEvent(r.event, shown)) {
        if (live) acks.push_back(held.tag);
        LinkState& state = held.state;
        state.set_link_id(r.link.link_id);
        state.set_state(r.link.state);
        *state.mutable_time() = r.event.time();
        *state.mutable_event() = std::move(r.event);
        held.tag = r.tag;
        held.generation = generation;
        ++counters_.updates;
        changes.push_back(state);
      } else if (!r.event.id().empty() && r.event.id() == shown.id()) {
        // The shown status again: its redelivery on a reopened stream, or
        // a copy a broker kept. Hold this one; nothing changed.
        if (live) acks.push_back(held.tag);
        held.tag = r.tag;
        held.generation = generation;
      } else if (live) {
        ++counters_.stale;
        acks.push_back(r.tag);
      } else {
        // Older than the shown status, with nothing holding the link's
        // queue: the shown one went back to the queue on a reopen and may
        // have been dropped there (a last-value queue keeps one ready
        // message). Acking this one could leave the queue empty and a
        // restarted consumer without the link; hold it until the shown
        // status comes back (then it is acked) or a newer one arrives.
        held.tag = r.tag;
        held.generation = generation;
      }
    }
    if (!changes.empty()) {
      watchers.reserve(watchers_.size());
      for (const auto& [key, watcher] : watchers_) watchers.push_back(watcher);
    }
  }
  // Outside mu_: a watcher's lock is never taken under the view's when
  // notifying. Only this stream's reader applies deliveries, so watchers
  // see the changes in order.
  for (const LinkState& state : changes) {
    for (const auto& watcher : watchers) {
      if (watcher->Wants(state.link_id())) watcher->Offer(state);
    }
  }
  return acks;
}

}  // namespace switchboard::consumer
