#include "services/consumer/consumer_service.h"

#include <deque>
#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "services/common/logging.h"
#include "services/common/queue_name.h"
#include "services/common/status.h"
#include "services/consumer/dedup_window.h"

namespace switchboard::consumer {
namespace {

using switchboard::v1::ConsumeRequest;
using switchboard::v1::ConsumeResponse;
using switchboard::v1::SubscribeRequest;
using switchboard::v1::SubscribeResponse;

using AppWriter = BidiStream<SubscribeRequest, SubscribeResponse>::Writer;

// Deliveries are bounded by the credit window and acks free it, so the app
// stream always reads.
constexpr size_t kNeverPause = std::numeric_limits<size_t>::max();

class BridgeCall;

// How the app side reaches its bridge call, which may end (and delete
// itself) at any time: through this lock, which the call takes to detach.
struct CallHandle {
  explicit CallHandle(uint32_t credit) : credit(credit) {}

  absl::Mutex mu;
  BridgeCall* call ABSL_GUARDED_BY(mu) = nullptr;
  // One delivery the app holds unacked.
  struct Held {
    DedupWindow* window;
    DedupWindow::Key key;
    // The bridge's tag for it now: the app's tag, unless the transport
    // delivered the event again meanwhile (its first delivery's tag died
    // with a reconnect); acks and nacks of the app's tag go to this one.
    uint64_t bridge_tag;
  };
  // What the app holds unacked, by the tag the app knows.
  absl::flat_hash_map<uint64_t, Held> held ABSL_GUARDED_BY(mu);
  // The app's tag of each held event, by dedup key (dedup on only).
  absl::flat_hash_map<DedupWindow::Key, uint64_t> held_keys ABSL_GUARDED_BY(mu);

  // The app acked or nacked `it`: the bridge tag to settle.
  uint64_t Settle(absl::flat_hash_map<uint64_t, Held>::iterator it,
                  bool release) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const Held& h = it->second;
    if (h.window != nullptr) {
      if (release) {
        h.window->Release(h.key);
      } else {
        h.window->Done(h.key);
      }
      held_keys.erase(h.key);
    }
    const uint64_t bridge_tag = h.bridge_tag;
    held.erase(it);
    return bridge_tag;
  }
  // The subscription's credit window.
  const uint32_t credit;
  // The app closed its side (grpcurl does after its -d message): it can
  // ack nothing more, so once `credit` deliveries are out nothing more can
  // come, and the stream ends.
  bool app_done ABSL_GUARDED_BY(mu) = false;
  // Deliveries admitted to `held` and not yet handed to the app's writer.
  int handing_over ABSL_GUARDED_BY(mu) = 0;

  // Whether the app stream should end now: it closed its side, its whole
  // credit is out and written (or queued to be).
  bool Exhausted() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return app_done && handing_over == 0 && held.size() >= credit;
  }

  // The held deliveries went back to their queues.
  void ReleaseAll() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    for (auto& [tag, entry] : held) {
      if (entry.window != nullptr) entry.window->Release(entry.key);
    }
    held_keys.clear();
    held.clear();
  }
};

// The client side of one bridge Consume stream, on gRPC's callback API. It
// turns bridge deliveries into app deliveries and carries the app's acks
// to the bridge. Deletes itself when the call is over.
class BridgeCall final
    : public grpc::ClientBidiReactor<ConsumeRequest, ConsumeResponse> {
 public:
  // Starts the call; `open` is the first request.
  static std::shared_ptr<CallHandle> Start(switchboard::v1::Bridge::Stub* stub,
                                           ConsumeRequest open,
                                           std::shared_ptr<AppWriter> app,
                                           DedupWindows* dedup) {
    const uint32_t credit = open.open().prefetch();
    auto* call = new BridgeCall(std::move(app), dedup, credit);
    auto handle = call->handle_;
    {
      absl::MutexLock lock(&handle->mu);
      handle->call = call;
    }
    stub->async()->Consume(&call->context_, call);
    call->Send(std::move(open));
    // Held until the call has ended and no operation is being started, so
    // OnDone (which deletes the call) never races with a Start*.
    call->AddHold();
    call->StartRead(&call->response_);
    call->StartCall();
    return handle;
  }

  // Queues a request to the bridge. Requests after Close are dropped.
  void Send(ConsumeRequest request) {
    const ConsumeRequest* to_write = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (done_writing_) return;
      queue_.push_back(std::move(request));
      if (writing_) return;
      writing_ = true;
      to_write = &queue_.front();
    }
    StartOp([&] { StartWrite(to_write); });
  }

  // Ends the call once every queued request (acks above all) is written:
  // the bridge then returns what is still unacked. Cancelling instead
  // could drop acks the app already sent.
  void Close() {
    {
      absl::MutexLock lock(&mu_);
      if (done_writing_) return;
      done_writing_ = true;
      if (writing_) return;  // OnWriteDone closes after the last write.
    }
    StartOp([&] { StartWritesDone(); });
  }

 private:
  BridgeCall(std::shared_ptr<AppWriter> app, DedupWindows* dedup,
             uint32_t credit)
      : app_(std::move(app)),
        dedup_(dedup),
        handle_(std::make_shared<CallHandle>(credit)) {}

  void OnWriteDone(bool ok) override {
    const ConsumeRequest* next = nullptr;
    bool close = false;
    {
      absl::MutexLock lock(&mu_);
      queue_.pop_front();
      if (!ok) {
        // The call is over; OnDone follows.
        done_writing_ = true;
        queue_.clear();
        writing_ = false;
        return;
      }
      if (!queue_.empty()) {
        next = &queue_.front();
      } else {
        writing_ = false;
        close = done_writing_;
      }
    }
    if (next != nullptr) StartOp([&] { StartWrite(next); });
    if (close) StartOp([&] { StartWritesDone(); });
  }

  // Starts an operation unless the call has ended.
  template <typename F>
  void StartOp(F start) {
    {
      absl::MutexLock lock(&mu_);
      if (ended_) return;
      ++starting_;
    }
    start();
    ReleaseHoldIfDone(/*started=*/true);
  }

  void ReleaseHoldIfDone(bool started) {
    bool release = false;
    {
      absl::MutexLock lock(&mu_);
      if (started) --starting_;
      if (ended_ && starting_ == 0 && !hold_released_) {
        hold_released_ = true;
        release = true;
      }
    }
    if (release) RemoveHold();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The bridge ended the call: start nothing more; OnDone follows.
      {
        absl::MutexLock lock(&mu_);
        ended_ = true;
      }
      ReleaseHoldIfDone(/*started=*/false);
      return;
    }
    SubscribeResponse out;
    out.mutable_deliveries()->Reserve(response_.deliveries_size());
    ConsumeRequest duplicates;
    std::vector<bool> admitted(response_.deliveries_size(), true);
    {
      // Deliveries of a response mostly share one queue: look its window
      // up once.
      const std::string* window_queue = nullptr;
      DedupWindow* window = nullptr;
      absl::MutexLock lock(&handle_->mu);
      for (int i = 0; i < response_.deliveries_size(); ++i) {
        const auto& d = response_.deliveries(i);
        if (window_queue == nullptr || *window_queue != d.queue()) {
          window_queue = &d.queue();
          window = dedup_->For(d.queue());
        }
        const DedupWindow::Key key = window != nullptr
                                         ? DedupWindow::KeyOf(d.id())
                                         : DedupWindow::kNoKey;
        if (window != nullptr && !window->Admit(key)) {
          admitted[i] = false;
          auto mine = key == DedupWindow::kNoKey ? handle_->held_keys.end()
                                                 : handle_->held_keys.find(key);
          if (mine != handle_->held_keys.end()) {
            // A copy of an event this app holds: the transport delivered
            // it again (a reconnect requeued the first copy, whose tag is
            // now dead). Acking it would drop the only live copy; instead
            // the app's tag now stands for it, and the old tag is settled
            // (a no-op for a dead one; a live one is a true duplicate).
            CallHandle::Held& h = handle_->held[mine->second];
            duplicates.mutable_ack()->add_tags(h.bridge_tag);
            h.bridge_tag = d.tag();
            continue;
          }
          duplicates.mutable_ack()->add_tags(d.tag());
          continue;
        }
        handle_->held.emplace(d.tag(), CallHandle::Held{window, key, d.tag()});
        if (window != nullptr && key != DedupWindow::kNoKey) {
          handle_->held_keys[key] = d.tag();
        }
      }
      ++handle_->handing_over;
    }
    if (duplicates.has_ack()) {
      // Seen already: done with, without the app seeing it twice.
      Logger("consumer")
          ->debug("dropped {} duplicate deliveries",
                  duplicates.ack().tags_size());
      Send(std::move(duplicates));
    }
    for (int i = 0; i < response_.deliveries_size(); ++i) {
      if (!admitted[i]) continue;
      auto& d = *response_.mutable_deliveries(i);
      auto* delivery = out.add_deliveries();
      delivery->set_tag(d.tag());
      delivery->set_queue(std::move(*d.mutable_queue()));
      delivery->set_redelivered(d.redelivered());
      delivery->set_delivery_count(d.delivery_count());
      if (!delivery->mutable_event()->ParseFromString(d.event())) {
        // Not ours to fix: say which delivery is broken and let the app
        // nack or ack it; its id stays known.
        Logger("consumer")
            ->error("delivery {} from {} is not a valid Event", d.id(),
                    delivery->queue());
        delivery->mutable_event()->set_id(d.id());
      }
    }
    if (out.deliveries_size() > 0) app_->Send(std::move(out));
    bool exhausted;
    {
      absl::MutexLock lock(&handle_->mu);
      --handle_->handing_over;
      exhausted = handle_->Exhausted();
    }
    // After what was just queued is written; the app stream's end then
    // closes this call and the deliveries go back to their queues.
    if (exhausted) app_->Finish(grpc::Status::OK);
    StartOp([&] { StartRead(&response_); });
  }

  void OnDone(const grpc::Status& status) override {
    if (status.ok() || status.error_code() == grpc::StatusCode::CANCELLED) {
      app_->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                "the bridge ended the subscription; "
                                "subscribe again"));
    } else {
      app_->Finish(status);
    }
    {
      absl::MutexLock lock(&handle_->mu);
      handle_->call = nullptr;
      // The bridge returned whatever was unacked.
      handle_->ReleaseAll();
    }
    delete this;
  }

  grpc::ClientContext context_;
  std::shared_ptr<AppWriter> app_;
  DedupWindows* const dedup_;
  std::shared_ptr<CallHandle> handle_;
  ConsumeResponse response_;
  absl::Mutex mu_;
  std::deque<ConsumeRequest> queue_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool done_writing_ ABSL_GUARDED_BY(mu_) = false;
  // The read side saw the end of the call.
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  // Threads between deciding to start an operation and having started it.
  int starting_ ABSL_GUARDED_BY(mu_) = 0;
  bool hold_released_ ABSL_GUARDED_BY(mu_) = false;
};

class SubscribeStream final
    : public BidiStream<SubscribeRequest, SubscribeResponse> {
 public:
  SubscribeStream(const ConsumerConfig* config,
                  switchboard::v1::Bridge::Stub* bridge, DedupWindows* dedup,
                  StreamSet* streams)
      : BidiStream(streams, kNeverPause),
        config_(config),
        bridge_(bridge),
        dedup_(dedup) {
    StartStream();
  }

 private:
  void OnRequest(SubscribeRequest& request) override {
    absl::Status status;
    ConsumeRequest forward;
    switch (request.request_case()) {
      case SubscribeRequest::kOpen:
        status = Open(request.open());
        return writer_finish_if_error(status);
      case SubscribeRequest::kAck:
        *forward.mutable_ack()->mutable_tags() =
            std::move(*request.mutable_ack()->mutable_tags());
        break;
      case SubscribeRequest::kNack:
        *forward.mutable_nack()->mutable_tags() =
            std::move(*request.mutable_nack()->mutable_tags());
        forward.mutable_nack()->set_requeue(request.nack().requeue());
        break;
      case SubscribeRequest::kClose:
        // After the queued deliveries; the stream's end then closes the
        // bridge call once the acks before this are written to it.
        return writer()->Finish(grpc::Status::OK);
      default:
        return writer_finish_if_error(absl::InvalidArgumentError(
            "empty request: set one of open, ack or nack"));
    }
    if (handle_ == nullptr) {
      return writer()->Finish(grpc::Status(
          grpc::StatusCode::FAILED_PRECONDITION,
          "the first message of a Subscribe stream must be 'open'"));
    }
    absl::MutexLock lock(&handle_->mu);
    const bool release = forward.has_nack() && forward.nack().requeue();
    auto& tags = forward.has_ack() ? *forward.mutable_ack()->mutable_tags()
                                   : *forward.mutable_nack()->mutable_tags();
    for (uint64_t& tag : tags) {
      auto it = handle_->held.find(tag);
      if (it == handle_->held.end()) continue;  // the bridge will say
      tag = handle_->Settle(it, release);
    }
    if (handle_->call != nullptr) handle_->call->Send(std::move(forward));
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
      // The link view holds each link's newest status unacked in its
      // queue; a subscriber would take those deliveries away from it.
      if (!link_prefix.empty() && absl::StartsWith(q, link_prefix)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "queue '", q,
            "' is a link-status queue, read by the consumer's link view: use "
            "GetLinkStatus/WatchLinkStatus"));
      }
    }
    uint32_t credit =
        open.credit() == 0 ? config_->default_credit : open.credit();
    if (credit > config_->max_credit) {
      return absl::InvalidArgumentError(
          absl::StrCat("open.credit is ", credit, "; the limit is ",
                       config_->max_credit, " (max_credit)"));
    }
    ConsumeRequest request;
    auto* bridge_open = request.mutable_open();
    *bridge_open->mutable_queues() = open.queues();
    bridge_open->set_prefetch(credit);
    Logger("consumer")
        ->info("subscription to {} (credit {})",
               absl::StrJoin(open.queues(), ","), credit);
    handle_ = BridgeCall::Start(bridge_, std::move(request), writer(), dedup_);
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
  // Set by the first 'open'. OnRequest calls never overlap and
  // OnStreamEnded comes after the last, so no lock guards the pointer.
  std::shared_ptr<CallHandle> handle_;
};

}  // namespace

absl::StatusOr<ConsumerConfig> ConsumerConfig::Parse(
    const ConfigNode& config, const std::string& listen_override) {
  ConsumerConfig c;
  SB_ASSIGN_OR_RETURN(
      c.listen,
      ListenSettings::Parse(config, "listen", c.listen, listen_override));
  // The server applies them too (ServiceMain); here for the keepalive of
  // the channel to the bridge.
  SB_ASSIGN_OR_RETURN(c.limits, ServerLimits::Parse(config));
  SB_RETURN_IF_ERROR(config.Get("default_credit", &c.default_credit));
  SB_RETURN_IF_ERROR(config.Get("max_credit", &c.max_credit));
  SB_RETURN_IF_ERROR(config.Get("dedup_window", &c.dedup_window));
  SB_ASSIGN_OR_RETURN(ConfigNode bridge, config.Child("bridge"));
  SB_ASSIGN_OR_RETURN(ConfigNode links, config.Child("links"));
  SB_RETURN_IF_ERROR(config.CheckAllKeysKnown());
  SB_RETURN_IF_ERROR(bridge.Get("address", &c.bridge_address));
  SB_RETURN_IF_ERROR(bridge.CheckAllKeysKnown());
  SB_RETURN_IF_ERROR(links.Get("queue_prefix", &c.links.queue_prefix));
  SB_RETURN_IF_ERROR(
      links.Get("discovery_interval", &c.links.discovery_interval));
  SB_RETURN_IF_ERROR(links.CheckAllKeysKnown());
  if (c.bridge_address.empty()) return bridge.Error("address", "must be set");
  if (c.max_credit == 0 || c.max_credit > 65535) {
    return config.Error("max_credit", "must be 1 to 65535");
  }
  if (c.default_credit == 0 || c.default_credit > c.max_credit) {
    return config.Error("default_credit", "must be 1 to max_credit");
  }
  // "" turns the view off; otherwise the prefix plus any link id must make
  // a valid queue name.
  if (!c.links.queue_prefix.empty()) {
    if (absl::Status s = ValidateQueueNamePrefix(c.links.queue_prefix);
        !s.ok()) {
      return links.Error("queue_prefix",
                         absl::StrCat("'", c.links.queue_prefix,
                                      "' cannot start a queue name: ",
                                      s.message(), " (\"\" turns it off)"));
    }
  }
  if (c.links.discovery_interval <= absl::ZeroDuration()) {
    return links.Error("discovery_interval", "must be more than 0");
  }
  return c;
}

absl::StatusOr<std::unique_ptr<ConsumerService>> ConsumerService::Create(
    const ConfigNode& config, const std::string& listen_override) {
  SB_ASSIGN_OR_RETURN(ConsumerConfig parsed,
                      ConsumerConfig::Parse(config, listen_override));
  return std::make_unique<ConsumerService>(std::move(parsed));
}

ConsumerService::ConsumerService(ConsumerConfig config)
    : config_(std::move(config)), dedup_(config_.dedup_window) {
  // Keepalive: a bridge that died without closing its connections (host
  // gone, process frozen) ends the subscriptions within keepalive_time +
  // keepalive_timeout, so apps subscribe again.
  channel_ = grpc::CreateCustomChannel(
      config_.bridge_address, grpc::InsecureChannelCredentials(),
      config_.limits.InternalChannelArguments());
  bridge_ = switchboard::v1::Bridge::NewStub(channel_);
  if (!config_.links.queue_prefix.empty()) {
    link_view_ = std::make_unique<LinkView>(config_.links, channel_);
  }
}

absl::Status ConsumerService::Start() {
  if (link_view_ != nullptr) link_view_->Start();
  return absl::OkStatus();
}

void ConsumerService::Drain() {
  streams_.CloseAll();
  // Ends the watches, and hands the held statuses back to the bridge now
  // rather than after the grace period.
  if (link_view_ != nullptr) link_view_->Stop();
}

void ConsumerService::Stop() {
  if (link_view_ != nullptr) link_view_->Stop();
}

grpc::ServerBidiReactor<SubscribeRequest, SubscribeResponse>*
ConsumerService::Subscribe(grpc::CallbackServerContext* context) {
  return new SubscribeStream(&config_, bridge_.get(), &dedup_, &streams_);
}

grpc::ServerUnaryReactor* ConsumerService::ListQueues(
    grpc::CallbackServerContext* context,
    const switchboard::v1::ListQueuesRequest* request,
    switchboard::v1::ListQueuesResponse* response) {
  struct Call {
    grpc::ClientContext context;
    switchboard::v1::GetQueueStatsRequest request;
    switchboard::v1::GetQueueStatsResponse response;
  };
  auto* reactor = context->DefaultReactor();
  auto* call = new Call;
  *call->request.mutable_queues() = request->queues();
  call->context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(10));
  bridge_->async()->GetQueueStats(
      &call->context, &call->request, &call->response,
      [call, reactor, response](grpc::Status status) {
        if (status.ok()) {
          for (const auto& q : call->response.queues()) {
            auto* out = response->add_queues();
            out->set_name(q.name());
            out->set_depth(q.depth());
            out->set_unacked(q.unacked());
            out->set_subscribers(q.consumers());
            out->set_last_value(q.last_value());
            out->set_dropped(q.dropped());
            out->set_rejected(q.rejected());
            out->set_expired(q.expired());
            out->set_dead_lettered(q.dead_lettered());
          }
        } else if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                   status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
          status = grpc::Status(status.error_code(),
                                absl::StrCat("the bridge is unreachable: ",
                                             status.error_message()));
        }
        delete call;
        reactor->Finish(status);
      });
  return reactor;
}

namespace {

absl::Status LinkViewOff() {
  return absl::FailedPreconditionError(
      "the link view is off (links.queue_prefix is empty in the consumer's "
      "config)");
}

}  // namespace

grpc::ServerUnaryReactor* ConsumerService::GetLinkStatus(
    grpc::CallbackServerContext* context,
    const switchboard::v1::GetLinkStatusRequest* request,
    switchboard::v1::LinkState* response) {
  auto* reactor = context->DefaultReactor();
  absl::StatusOr<switchboard::v1::LinkState> state = LinkViewOff();
  if (link_view_ != nullptr) state = link_view_->Get(request->link_id());
  if (state.ok()) *response = *std::move(state);
  reactor->Finish(ToGrpcStatus(state.status()));
  return reactor;
}

grpc::ServerUnaryReactor* ConsumerService::ListLinkStatus(
    grpc::CallbackServerContext* context,
    const switchboard::v1::ListLinkStatusRequest* request,
    switchboard::v1::ListLinkStatusResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (link_view_ == nullptr) {
    reactor->Finish(ToGrpcStatus(LinkViewOff()));
    return reactor;
  }
  for (auto& state : link_view_->List()) {
    *response->add_links() = std::move(state);
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerWriteReactor<switchboard::v1::WatchLinkStatusResponse>*
ConsumerService::WatchLinkStatus(
    grpc::CallbackServerContext* context,
    const switchboard::v1::WatchLinkStatusRequest* request) {
  if (link_view_ == nullptr) return RefusedWatch(LinkViewOff());
  return link_view_->Watch(*request);
}

}  // namespace switchboard::consumer
