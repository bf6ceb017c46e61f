#include "services/consumer/consumer_service.h"

#include <algorithm>
#include <deque>
#include <limits>

#include "absl/algorithm/container.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "services/common/logging.h"
#include "services/common/queue_name.h"
#include "services/common/status_macros.h"
#include "services/common/grpc_status.h"
#include "services/consumer/bridge_call.h"
#include "services/consumer/dedup_window.h"

namespace switchboard::consumer {
namespace {

using switchboard::v1::ConsumeRequest;
using switchboard::v1::SubscribeRequest;
// What apps receive, with each event as the bytes the bridge delivered.
using relay::SubscribeResponse;

// Deliveries are bounded by the credit window and acks free it, so the app
// stream always reads.
constexpr size_t kNeverPause = std::numeric_limits<size_t>::max();

// How long Stop waits for the bridge to end the closed calls before it
// cancels them.
constexpr absl::Duration kBridgeCloseGrace = absl::Seconds(5);

// Bounds of an app's ack deadline (open.ack_deadline, extend.deadline) and
// nack delay.
constexpr absl::Duration kMinAckDeadline = absl::Seconds(1);
constexpr absl::Duration kMaxAckDeadline = absl::Hours(1);
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

class SubscribeStream final
    : public BidiStream<SubscribeRequest, SubscribeResponse> {
 public:
  SubscribeStream(const ConsumerConfig* config,
                  switchboard::v1::Bridge::Stub* bridge, DedupWindows* dedup,
                  BridgeCalls* bridge_calls, TimerWorker* timers,
                  StreamSet* streams, AuthPolicy* auth,
                  absl::StatusOr<std::shared_ptr<const Identity>> who)
      : BidiStream(streams, kNeverPause),
        config_(config),
        bridge_(bridge),
        dedup_(dedup),
        bridge_calls_(bridge_calls),
        timers_(timers),
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

namespace {

// `dedup` {store, window, directory}, or the older top-level
// `dedup_window`.
absl::Status ParseDedup(const ConfigNode& config, ConsumerConfig* c) {
  SB_RETURN_IF_ERROR(config.Get("dedup_window", &c->dedup_window));
  const bool legacy = config.Has("dedup_window");
  SB_ASSIGN_OR_RETURN(ConfigNode dedup, config.Child("dedup"));
  if (legacy && dedup.Has("window")) {
    return config.Error("dedup_window",
                        "is the older name of dedup.window: set only "
                        "dedup.window");
  }
  SB_RETURN_IF_ERROR(dedup.Get("window", &c->dedup_window));
  SB_RETURN_IF_ERROR(dedup.Get("store", &c->dedup_store));
  SB_RETURN_IF_ERROR(dedup.Get("directory", &c->dedup_directory));
  SB_RETURN_IF_ERROR(dedup.CheckAllKeysKnown());
  if (c->dedup_store != "memory" && c->dedup_store != "file") {
    return dedup.Error("store", absl::StrCat("unknown store '", c->dedup_store,
                                             "' (known: memory, file)"));
  }
  if (c->dedup_store == "file") {
    if (c->dedup_window == 0) {
      return dedup.Error("store",
                         "file needs deduplication on (window above 0)");
    }
    if (c->dedup_directory.empty()) {
      return dedup.Error("directory", "must be set with store: file");
    }
  }
  return absl::OkStatus();
}

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
  SB_RETURN_IF_ERROR(ParseDedup(config, &c));
  SB_RETURN_IF_ERROR(config.Get("ack_deadline", &c.ack_deadline));
  SB_ASSIGN_OR_RETURN(ConfigNode bridge, config.Child("bridge"));
  SB_ASSIGN_OR_RETURN(ConfigNode links, config.Child("links"));
  SB_RETURN_IF_ERROR(config.CheckAllKeysKnown());
  SB_RETURN_IF_ERROR(bridge.Get("address", &c.bridge_address));
  SB_ASSIGN_OR_RETURN(c.bridge_credentials, ParseBridgeCredentials(bridge));
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
  if (c.ack_deadline != absl::ZeroDuration() &&
      (c.ack_deadline < kMinAckDeadline || c.ack_deadline > kMaxAckDeadline)) {
    return config.Error("ack_deadline", "must be 1s to 1h, or 0s (off)");
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
  return Create(std::move(parsed));
}

std::vector<std::shared_ptr<prometheus::Collectable>>
ConsumerService::metrics_collectables(const MetricsSettings& settings) {
  if (metrics_ == nullptr) {
    bridge_calls_.counters().set_max_label_values(settings.max_label_values);
    ConsumerMetrics::Sources sources;
    sources.counters = &bridge_calls_.counters();
    sources.subscriptions = [this] { return bridge_calls_.size(); };
    sources.links = [this]() -> size_t {
      return link_view_ != nullptr ? link_view_->List().size() : 0;
    };
    metrics_ = std::make_shared<ConsumerMetrics>(std::move(sources));
  }
  return {metrics_};
}

absl::Status ConsumerService::CheckConfig(const ConfigNode& config,
                                          const std::string& listen_override) {
  return ConsumerConfig::Parse(config, listen_override).status();
}

absl::StatusOr<std::unique_ptr<ConsumerService>> ConsumerService::Create(
    ConsumerConfig config, TimerWorker::Clock clock) {
  std::unique_ptr<DedupStore> store;
  if (config.dedup_store == "file") {
    auto opened = DedupStore::Open(config.dedup_directory, config.dedup_window);
    if (!opened.ok()) {
      return absl::Status(
          opened.status().code(),
          absl::StrCat("dedup.directory: ", opened.status().message()));
    }
    store = *std::move(opened);
    const DedupStore::Stats stats = store->stats();
    Logger("consumer")
        ->info(
            "dedup store {}: {} acked ids loaded ({} torn tails, {} corrupt "
            "records dropped)",
            store->path(), stats.loaded, stats.torn_tails,
            stats.corrupt_records);
  }
  return std::make_unique<ConsumerService>(std::move(config), std::move(store),
                                           std::move(clock));
}

ConsumerService::ConsumerService(ConsumerConfig config,
                                 std::unique_ptr<DedupStore> dedup,
                                 TimerWorker::Clock clock)
    : config_(std::move(config)),
      dedup_(config_.dedup_window, std::move(dedup)),
      timers_(std::move(clock)) {
  // Keepalive: a bridge that died without closing its connections (host
  // gone, process frozen) ends the subscriptions within keepalive_time +
  // keepalive_timeout, so apps subscribe again.
  channel_ =
      CreateClientChannel(config_.bridge_address, config_.bridge_credentials,
                          config_.limits.InternalChannelArguments());
  bridge_ = switchboard::v1::Bridge::NewStub(channel_);
  // Subscribe answers with relay::SubscribeResponse, which apps read as
  // switchboard.v1.SubscribeResponse: the same method (index 0 of the
  // Consumer service, as generated from consumer.proto) with a response
  // type that keeps events as bytes. Reflection still describes the
  // public types.
  MarkMethodCallback(kSubscribeMethodIndex,
                     new grpc::internal::CallbackBidiHandler<SubscribeRequest,
                                                             SubscribeResponse>(
                         [this](grpc::CallbackServerContext* context) {
                           return OpenSubscription(context);
                         }));
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
  // Every app stream has ended, so every bridge call was asked to close:
  // the bridge returns what was unacked, then ends it. One that has not
  // within the grace period (a hung bridge) is cancelled.
  bridge_calls_.CloseAll(kBridgeCloseGrace);
}

grpc::ServerBidiReactor<SubscribeRequest, SubscribeResponse>*
ConsumerService::OpenSubscription(grpc::CallbackServerContext* context) {
  absl::StatusOr<std::shared_ptr<const Identity>> who =
      auth_ != nullptr ? auth_->Authenticate(*context)
                       : std::shared_ptr<const Identity>();
  return new SubscribeStream(&config_, bridge_.get(), &dedup_, &bridge_calls_,
                             &timers_, &streams_, auth_.get(), std::move(who));
}

absl::Status ConsumerService::Allow(const grpc::CallbackServerContext& context,
                                    Action action) {
  return CheckAccess(auth_.get(), context, action);
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
  if (absl::Status s = Allow(*context, Action::kRead); !s.ok()) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
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
  if (absl::Status s = Allow(*context, Action::kRead); !s.ok()) {
    state = s;
  } else if (link_view_ != nullptr) {
    state = link_view_->Get(request->link_id());
  }
  if (state.ok()) *response = *std::move(state);
  reactor->Finish(ToGrpcStatus(state.status()));
  return reactor;
}

grpc::ServerUnaryReactor* ConsumerService::ListLinkStatus(
    grpc::CallbackServerContext* context,
    const switchboard::v1::ListLinkStatusRequest* request,
    switchboard::v1::ListLinkStatusResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (absl::Status s = Allow(*context, Action::kRead); !s.ok()) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
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
  if (absl::Status s = Allow(*context, Action::kRead); !s.ok()) {
    return RefusedWatch(s);
  }
  if (link_view_ == nullptr) return RefusedWatch(LinkViewOff());
  return link_view_->Watch(*request);
}

}  // namespace switchboard::consumer
