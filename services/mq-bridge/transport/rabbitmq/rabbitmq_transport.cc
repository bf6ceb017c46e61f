#include "services/mq-bridge/transport/rabbitmq/rabbitmq_transport.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <utility>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "services/common/logging.h"
#include "services/common/queue_name.h"
#include "services/common/status_macros.h"
#include "services/mq-bridge/transport/registry.h"

namespace switchboard::bridge::rabbitmq {
namespace {

constexpr amqp_channel_t kPublishChannel = 1;
// Declares and passive look-ups: a failed one closes its channel, which
// must not be the confirm channel.
constexpr amqp_channel_t kAdminChannel = 2;
constexpr amqp_channel_t kConsumeChannel = 1;
// The schema rides in the content type (as Prometheus does with `proto=`)
// rather than in a headers table: headers cost the broker 5-10% more CPU
// per message (tests/bench/e2e_bench, "CPU per 1000 events").
constexpr char kContentType[] =
    "application/x-protobuf; proto=switchboard.v1.Event";
constexpr size_t kMaxDeliveriesPerBatch = 1024;
// Delivery counts remembered for dead-lettering.
constexpr size_t kMaxCountedEvents = 100000;
constexpr char kDeadLetterPrefix[] = "dead.";

std::shared_ptr<spdlog::logger> Log() { return Logger("bridge.rabbitmq"); }

amqp_bytes_t Bytes(absl::string_view s) {
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}

std::string ToString(amqp_bytes_t b) {
  return std::string(static_cast<const char*>(b.bytes), b.len);
}

// After the connection to `node` is lost, or failed while being set up,
// the next attempt starts with the node after it: with a cluster, the
// connection fails over instead of waiting for that node to come back.
size_t NextNode(const ConnectionSettings& settings, size_t node) {
  return (node + 1) % settings.nodes.size();
}

}  // namespace

struct RabbitMqTransport::PendingBatch {
  std::vector<OutgoingMessage> messages;
  PublishCallback done;
  // Sequence numbers on the current publish channel, once published: one
  // per (message, queue), in message then queue order.
  bool published = false;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  // A nack for a queue that does not refuse by policy: send it all again.
  bool nacked = false;
  // The queue of the first nack, for the error.
  std::string nacked_queue;
  // Nacks of reject-publish queues: final, per message and queue.
  std::vector<Refusal> refused;
  // A message the broker returned as unroutable: its queue is gone
  // (x-expires); the batch fails with NotFound, to be declared again.
  std::string returned_queue;

  // The (message, queue) that `seq` stands for.
  std::pair<size_t, const std::string*> At(uint64_t seq) const {
    uint64_t n = seq - first_seq;
    for (size_t i = 0; i < messages.size(); ++i) {
      if (n < messages[i].queues.size()) return {i, &messages[i].queues[n]};
      n -= messages[i].queues.size();
    }
    return {0, nullptr};
  }
};

struct RabbitMqTransport::Command {
  enum Kind { kPublish, kDeclare, kStats } kind;
  PendingBatch batch;
  std::string name;
  QueueOptions options;
  std::vector<std::string> names;
  // Shared with the caller, who may have stopped waiting (a deadline).
  std::shared_ptr<Reply> reply;
};

// What the publisher thread answers a declare or stats command.
struct RabbitMqTransport::Reply {
  absl::Status result;
  std::vector<QueueStats> stats;
  absl::Notification finished;
};

// ---- Subscription ----

class RabbitMqTransport::RabbitMqSubscription final : public Subscription {
 public:
  RabbitMqSubscription(RabbitMqTransport* transport, SubscribeOptions options,
                       DeliveryHandler handler)
      : transport_(transport),
        options_(std::move(options)),
        handler_(std::move(handler)),
        wake_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

  // Starts consuming; the first connection's outcome is the result.
  absl::Status Start() {
    thread_ = std::thread([this] { Loop(); });
    started_.WaitForNotification();
    return start_status_;
  }

  ~RabbitMqSubscription() override {
    transport_->Unregister(this);
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    SignalEventFd(wake_fd_);
    if (thread_.joinable()) thread_.join();
    close(wake_fd_);
  }

  absl::Status Ack(absl::Span<const uint64_t> tags) override {
    return Settle(tags, Settlement::kAck);
  }

  absl::Status Nack(absl::Span<const uint64_t> tags, bool requeue) override {
    return Settle(tags, requeue ? Settlement::kRequeue : Settlement::kDrop);
  }

  uint64_t UnackedIn(const std::string& queue) {
    absl::MutexLock lock(&mu_);
    uint64_t n = 0;
    for (const auto& [tag, held] : outstanding_) n += (held.queue == queue);
    return n;
  }

 private:
  enum class Settlement { kAck, kRequeue, kDrop };

  absl::Status Settle(absl::Span<const uint64_t> tags, Settlement kind) {
    {
      absl::MutexLock lock(&mu_);
      for (uint64_t tag : tags) {
        // Tags of a previous connection were requeued by the broker when
        // it dropped; settling them is moot, not an error.
        if (tag > base_ && outstanding_.count(tag) == 0) {
          return absl::NotFoundError(absl::StrCat(
              "delivery tag ", tag,
              " is not an unacked delivery of this subscription (already "
              "acked, or never delivered)"));
        }
      }
      for (uint64_t tag : tags) {
        if (tag <= base_) continue;
        auto it = outstanding_.find(tag);
        if (it == outstanding_.end()) continue;
        // Settled for good: its delivery count is no longer needed.
        if (kind != Settlement::kRequeue && it->second.counted) {
          transport_->ForgetDeliveries(it->second.queue, it->second.id);
        }
        outstanding_.erase(it);
        settlements_.push_back({tag - base_, kind});
      }
    }
    SignalEventFd(wake_fd_);
    return absl::OkStatus();
  }

  absl::Status Setup() {
    const ConnectionSettings& cs = transport_->settings_.connection;
    SB_ASSIGN_OR_RETURN(conn_,
                        AmqpConnection::Open(cs, "subscription", next_node_));
    SB_RETURN_IF_ERROR(conn_->OpenChannel(kConsumeChannel));
    // One window for the whole subscription; quorum queues only support
    // per-consumer windows.
    const bool global = options_.queues.size() > 1 &&
                        transport_->settings_.queue_type != "quorum";
    amqp_basic_qos(conn_->get(), kConsumeChannel, 0,
                   static_cast<uint16_t>(BrokerPrefetch()), global);
    SB_RETURN_IF_ERROR(conn_->CheckReply(kConsumeChannel, "basic.qos"));
    consumer_queues_.clear();
    for (const std::string& queue : options_.queues) {
      auto* ok =
          amqp_basic_consume(conn_->get(), kConsumeChannel, Bytes(queue),
                             amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
      absl::Status s = conn_->CheckReply(
          kConsumeChannel, absl::StrCat("consuming queue '", queue, "'"));
      if (absl::IsNotFound(s)) {
        return absl::NotFoundError(
            absl::StrCat("queue '", queue, "' does not exist"));
      }
      SB_RETURN_IF_ERROR(s);
      consumer_queues_[ToString(ok->consumer_tag)] = queue;
    }
    return absl::OkStatus();
  }

  void Drop(const absl::Status& why) {
    Log()->warn(
        "subscription connection to {} lost ({}); the broker requeues its "
        "unacked messages; reconnecting",
        conn_->peer(), why.ToString());
    // Fail over: the next attempt starts with the node after this one.
    next_node_ = NextNode(transport_->settings_.connection, conn_->node());
    conn_->MarkBroken();
    conn_.reset();
    absl::MutexLock lock(&mu_);
    outstanding_.clear();
    settlements_.clear();
    base_ = last_tag_;
  }

  void Loop() {
    start_status_ = Setup();
    started_.Notify();
    if (!start_status_.ok()) return;
    absl::Duration backoff = transport_->settings_.reconnect_initial;
    const absl::Duration idle = absl::Seconds(
        std::max(1, transport_->settings_.connection.heartbeat_seconds / 2));
    for (;;) {
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) return;
      }
      if (conn_ == nullptr) {
        if (StoppingWithin(backoff)) return;
        absl::Status s = Setup();
        if (!s.ok()) {
          if (conn_ != nullptr) {
            next_node_ =
                NextNode(transport_->settings_.connection, conn_->node());
          }
          conn_.reset();
          backoff = std::min(backoff * 2, transport_->settings_.reconnect_max);
          continue;
        }
        backoff = transport_->settings_.reconnect_initial;
        Log()->info("subscription reconnected to {}", conn_->peer());
        continue;
      }
      if (absl::Status s = SendSettlements(); !s.ok()) {
        Drop(s);
        continue;
      }
      auto ready = conn_->WaitForInput(wake_fd_, idle);
      DrainEventFd(wake_fd_);
      if (!ready.ok()) {
        Drop(ready.status());
        continue;
      }
      if (!*ready) continue;
      std::vector<Delivery> batch;
      absl::Status s = ReadDeliveries(&batch);
      if (s.ok()) s = Linger(&batch);
      if (!batch.empty()) handler_(std::move(batch));
      if (!s.ok()) Drop(s);
    }
  }

  absl::Status SendSettlements() {
    std::vector<std::pair<uint64_t, Settlement>> todo;
    uint64_t lowest_outstanding = UINT64_MAX;
    {
      absl::MutexLock lock(&mu_);
      todo.swap(settlements_);
      if (!outstanding_.empty()) {
        lowest_outstanding = outstanding_.begin()->first - base_;
      }
    }
    if (todo.empty()) return absl::OkStatus();
    // The common case, an app acking in order, is one frame: ack up to the
    // highest tag with `multiple` when nothing below it is outstanding.
    bool all_acks = std::all_of(todo.begin(), todo.end(), [](const auto& t) {
      return t.second == Settlement::kAck;
    });
    uint64_t highest = 0;
    for (const auto& t : todo) highest = std::max(highest, t.first);
    if (all_acks && highest < lowest_outstanding) {
      return conn_->CheckCode(
          amqp_basic_ack(conn_->get(), kConsumeChannel, highest, 1), "ack");
    }
    for (const auto& [tag, kind] : todo) {
      int rc = kind == Settlement::kAck
                   ? amqp_basic_ack(conn_->get(), kConsumeChannel, tag, 0)
                   : amqp_basic_nack(conn_->get(), kConsumeChannel, tag, 0,
                                     kind == Settlement::kRequeue);
      SB_RETURN_IF_ERROR(conn_->CheckCode(rc, "ack/nack"));
    }
    return absl::OkStatus();
  }

  absl::Status ReadDeliveries(std::vector<Delivery>* out) {
    do {
      amqp_maybe_release_buffers(conn_->get());
      amqp_envelope_t envelope;
      // Input is known to be there; the timeout only bounds a message
      // whose frames straddle reads.
      timeval timeout{1, 0};
      amqp_rpc_reply_t reply =
          amqp_consume_message(conn_->get(), &envelope, &timeout, 0);
      if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
        std::optional<Delivery> d = ToDelivery(envelope);
        if (d.has_value()) {
          out->push_back(*std::move(d));
        } else {
          // Too many failed deliveries: the broker dead-letters it.
          absl::Status s = conn_->CheckCode(
              amqp_basic_nack(conn_->get(), kConsumeChannel,
                              envelope.delivery_tag, 0, /*requeue=*/0),
              "dead-lettering");
          amqp_destroy_envelope(&envelope);
          SB_RETURN_IF_ERROR(s);
          continue;
        }
        amqp_destroy_envelope(&envelope);
        continue;
      }
      if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
          reply.library_error == AMQP_STATUS_TIMEOUT) {
        break;
      }
      if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
          reply.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
        // Not a delivery: a close, or a cancel (queue deleted).
        amqp_frame_t frame;
        SB_RETURN_IF_ERROR(conn_->CheckCode(
            amqp_simple_wait_frame(conn_->get(), &frame), "reading"));
        if (frame.frame_type != AMQP_FRAME_METHOD) continue;
        if (frame.payload.method.id == AMQP_BASIC_CANCEL_METHOD) {
          return absl::UnavailableError(
              "the broker cancelled the consumer (queue deleted?)");
        }
        if (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
            frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
          absl::Status s = conn_->HandleClose(frame, "consuming");
          return absl::UnavailableError(s.message());
        }
        continue;
      }
      return conn_->Check(reply, kConsumeChannel, "consuming");
    } while (conn_->HasBufferedInput() && out->size() < kMaxDeliveriesPerBatch);
    return absl::OkStatus();
  }

  // Under load the broker sends a few deliveries per TCP segment. Handing
  // each handful over on its own costs a wake-up in the bridge, the
  // consumer and the app, and an ack frame back for each; on a host where
  // the broker is short of CPU that is throughput taken from the broker.
  // So while deliveries keep coming (the previous read ended less than a
  // linger ago) the batch waits one linger and takes what arrived
  // meanwhile. An isolated delivery is never held, nor are deliveries
  // once half the prefetch window is unacked: the broker could not send
  // more than the other half.
  absl::Status Linger(std::vector<Delivery>* batch) {
    // A read of other frames only (a heartbeat) says nothing about load.
    if (batch->empty()) return absl::OkStatus();
    const absl::Duration linger = transport_->settings_.delivery_linger;
    const bool busy = absl::Now() - last_read_end_ < linger;
    if (busy && Outstanding() * 2 < BrokerPrefetch()) {
      // The broker counts what the app acked as unacked until the ack is
      // sent: send them first, or the window may be full for the linger.
      SB_RETURN_IF_ERROR(SendSettlements());
      bool waited = false;
      while (batch->size() < kMaxDeliveriesPerBatch) {
        SB_ASSIGN_OR_RETURN(bool ready,
                            conn_->WaitForInput(-1, absl::ZeroDuration()));
        if (ready) {
          // More is here already (a backlog): no reason to wait.
          SB_RETURN_IF_ERROR(ReadDeliveries(batch));
          continue;
        }
        if (waited || StoppingWithin(linger)) break;
        waited = true;
      }
    }
    last_read_end_ = absl::Now();
    return absl::OkStatus();
  }

  // Waits up to `timeout`, less if the subscription is stopping; returns
  // whether it is.
  bool StoppingWithin(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), timeout);
    return stopping_;
  }

  // basic.qos counts in 16 bits.
  uint32_t BrokerPrefetch() const {
    return std::min<uint32_t>(options_.prefetch, 65535);
  }

  size_t Outstanding() {
    absl::MutexLock lock(&mu_);
    return outstanding_.size();
  }

  // The delivery for the app, or nullopt when it is to be dead-lettered.
  std::optional<Delivery> ToDelivery(const amqp_envelope_t& envelope) {
    Delivery d;
    const amqp_basic_properties_t& p = envelope.message.properties;
    if (p._flags & AMQP_BASIC_MESSAGE_ID_FLAG) d.id = ToString(p.message_id);
    d.payload =
        std::make_shared<const std::string>(ToString(envelope.message.body));
    d.redelivered = envelope.redelivered;
    d.delivery_count = envelope.redelivered ? 2 : 1;
    if (p._flags & AMQP_BASIC_HEADERS_FLAG) {
      // Quorum queues count deliveries for us.
      for (int i = 0; i < p.headers.num_entries; ++i) {
        const amqp_table_entry_t& e = p.headers.entries[i];
        if (ToString(e.key) == "x-delivery-count" &&
            e.value.kind == AMQP_FIELD_KIND_I64) {
          d.delivery_count = static_cast<uint32_t>(e.value.value.i64) + 1;
        }
      }
    }
    auto it = consumer_queues_.find(ToString(envelope.consumer_tag));
    d.queue = it != consumer_queues_.end() ? it->second
                                           : ToString(envelope.routing_key);
    const uint32_t limit = transport_->settings_.max_deliveries;
    // A first delivery is delivery 1 by definition: only redeliveries are
    // counted, which keeps the count table off the common path.
    const bool counted = limit > 0 && (d.redelivered || d.delivery_count > 1) &&
                         !d.id.empty() && transport_->DeadLettered(d.queue);
    if (counted) {
      const uint32_t count = transport_->CountDelivery(d.queue, d.id);
      d.delivery_count = std::max(d.delivery_count, count);
      if (count > limit) {
        Log()->warn("event {} from {} failed {} deliveries; moved to {}{}",
                    d.id, d.queue, limit, kDeadLetterPrefix, d.queue);
        transport_->ForgetDeliveries(d.queue, d.id);
        return std::nullopt;
      }
    }
    absl::MutexLock lock(&mu_);
    d.tag = base_ + envelope.delivery_tag;
    last_tag_ = std::max(last_tag_, d.tag);
    outstanding_.emplace(d.tag, Held{d.queue, d.id, counted});
    return d;
  }

  RabbitMqTransport* const transport_;
  const SubscribeOptions options_;
  const DeliveryHandler handler_;
  const int wake_fd_;
  std::thread thread_;
  absl::Notification started_;
  absl::Status start_status_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Our tags are base_ + the channel's delivery tag; base_ moves past every
  // tag handed out when a connection is replaced, so tags never repeat.
  uint64_t base_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_tag_ ABSL_GUARDED_BY(mu_) = 0;
  // An unacked delivery.
  struct Held {
    std::string queue;
    std::string id;
    // Whether the transport counts its deliveries (to forget when settled).
    bool counted;
  };
  absl::btree_map<uint64_t, Held> outstanding_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<uint64_t, Settlement>> settlements_
      ABSL_GUARDED_BY(mu_);

  // Subscription thread only.
  std::unique_ptr<AmqpConnection> conn_;
  // The node the next connection attempt starts with.
  size_t next_node_ = 0;
  absl::Time last_read_end_ = absl::InfinitePast();
  absl::flat_hash_map<std::string, std::string> consumer_queues_;
};

absl::StatusOr<std::unique_ptr<Transport>> RabbitMqTransport::Create(
    const ConfigNode& config) {
  SB_ASSIGN_OR_RETURN(Settings settings, ParseSettings(config));
  SB_ASSIGN_OR_RETURN(auto transport, Connect(std::move(settings)));
  return std::unique_ptr<Transport>(std::move(transport));
}

// ---- Transport ----

RabbitMqTransport::RabbitMqTransport(Settings settings)
    : settings_(std::move(settings)),
      wake_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

absl::StatusOr<std::unique_ptr<RabbitMqTransport>> RabbitMqTransport::Connect(
    Settings settings) {
  auto transport =
      std::unique_ptr<RabbitMqTransport>(new RabbitMqTransport(settings));
  // The first connection is made here, so a wrong address or password is a
  // clear start-up error instead of a retry loop.
  SB_RETURN_IF_ERROR(transport->Setup());
  transport->publisher_ =
      std::thread([t = transport.get()] { t->PublisherLoop(); });
  Log()->info("connected to {} (exchange '{}', {} queues)",
              transport->connected_to(), settings.exchange,
              settings.queue_type);
  if (!settings.connection.tls) {
    for (const BrokerNode& node : settings.connection.nodes) {
      if (node.host == "localhost" || node.host == "::1" ||
          absl::StartsWith(node.host, "127.")) {
        continue;
      }
      Log()->warn(
          "AMQP PLAIN credentials go to {}:{} in clear: set "
          "transport.rabbitmq.tls (amqps) for a broker beyond this host",
          node.host, node.port);
    }
  }
  return transport;
}

std::string RabbitMqTransport::connected_to() const {
  absl::MutexLock lock(&mu_);
  return connected_to_;
}

RabbitMqTransport::~RabbitMqTransport() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  SignalEventFd(wake_fd_);
  if (publisher_.joinable()) publisher_.join();
  close(wake_fd_);
}

Capabilities RabbitMqTransport::capabilities() const {
  Capabilities caps;
  caps.durable = settings_.durable;
  caps.acks = true;
  caps.last_value = true;
  caps.max_deliveries = settings_.max_deliveries;
  caps.ordered_requeue = settings_.queue_type == "classic";
  caps.confirmed_delivery = true;
  caps.queue_limits = true;
  caps.replaceable = true;
  // The broker drops, expires and dead-letters without telling clients.
  caps.drop_counters = false;
  caps.exact_limits = settings_.queue_type == "classic";
  return caps;
}

absl::StatusOr<std::shared_ptr<RabbitMqTransport::Reply>>
RabbitMqTransport::RunOnPublisher(std::unique_ptr<Command> command) {
  auto reply = std::make_shared<Reply>();
  command->reply = reply;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("the transport is stopping");
    commands_.push_back(std::move(command));
  }
  SignalEventFd(wake_fd_);
  // Callers are gRPC threads: never wait without bound for a broker that
  // is away (the publisher thread retries its connection meanwhile).
  if (!reply->finished.WaitForNotificationWithTimeout(
          settings_.command_timeout)) {
    return absl::DeadlineExceededError(absl::StrCat(
        "the broker at ", connected_to(), " did not answer within ",
        absl::FormatDuration(settings_.command_timeout),
        " (transport.rabbitmq.command_timeout); is it reachable?"));
  }
  SB_RETURN_IF_ERROR(reply->result);
  return reply;
}

absl::Status RabbitMqTransport::DeclareQueue(absl::string_view name,
                                             const QueueOptions& options) {
  SB_RETURN_IF_ERROR(ValidateQueueName(name));
  {
    absl::MutexLock lock(&mu_);
    auto it = declared_.find(name);
    if (it != declared_.end()) {
      if (it->second == options) return absl::OkStatus();
      return absl::FailedPreconditionError(absl::StrCat(
          "queue '", name,
          "' exists with last_value=", it->second.last_value ? "true" : "false",
          "; it cannot be redeclared with other options"));
    }
  }
  auto command = std::make_unique<Command>();
  command->kind = Command::kDeclare;
  command->name = std::string(name);
  command->options = options;
  return RunOnPublisher(std::move(command)).status();
}

namespace {

// AMQP 0-9-1 short strings (message_id, type, app_id) hold 255 bytes; a
// longer one would be cut mid-frame and break the connection.
constexpr size_t kMaxShortString = 255;

absl::Status CheckProperties(const OutgoingMessage& m) {
  for (const auto& [field, value] :
       {std::pair<const char*, const std::string*>{"id", &m.id},
        {"type", &m.type},
        {"source", &m.source}}) {
    if (value->size() > kMaxShortString) {
      return absl::InvalidArgumentError(absl::StrCat(
          "event ", field, " is ", value->size(),
          " bytes; an AMQP message property holds at most ", kMaxShortString));
    }
  }
  return absl::OkStatus();
}

}  // namespace

void RabbitMqTransport::Publish(std::vector<OutgoingMessage> batch,
                                PublishCallback done) {
  // Messages no AMQP property can carry are refused on their own, and the
  // rest is published; refusals name the caller's message indices.
  std::vector<Refusal> invalid;
  std::vector<size_t> index;
  for (size_t i = 0; i < batch.size(); ++i) {
    absl::Status s = CheckProperties(batch[i]);
    if (s.ok()) continue;
    for (const std::string& q : batch[i].queues) {
      invalid.push_back(Refusal{i, q, s});
    }
    batch[i].queues.clear();
  }
  if (!invalid.empty()) {
    std::vector<OutgoingMessage> kept;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].queues.empty()) continue;
      index.push_back(i);
      kept.push_back(std::move(batch[i]));
    }
    batch = std::move(kept);
    done = [done = std::move(done), invalid = std::move(invalid),
            index = std::move(index)](PublishResult result) mutable {
      for (Refusal& r : result.refused) {
        r.message = index[r.message];
        invalid.push_back(std::move(r));
      }
      std::sort(invalid.begin(), invalid.end(),
                [](const Refusal& a, const Refusal& b) {
                  return a.message < b.message;
                });
      if (result.status.ok()) result.refused = std::move(invalid);
      done(std::move(result));
    };
  }
  size_t messages = 0;
  for (const OutgoingMessage& m : batch) messages += m.queues.size();
  if (messages == 0) {
    // Nothing for the broker to confirm, ever.
    done(absl::OkStatus());
    return;
  }
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    // AMQP drops messages for unbound routing keys silently; the contract
    // wants NotFound and nothing published.
    for (const OutgoingMessage& m : batch) {
      for (const std::string& q : m.queues) {
        if (refused.ok() && !declared_.contains(q)) {
          refused = absl::NotFoundError(
              absl::StrCat("queue '", q, "' is not declared"));
        }
      }
    }
    if (refused.ok() && stopping_) {
      refused = absl::UnavailableError("the transport is stopping");
    }
    if (refused.ok()) {
      auto command = std::make_unique<Command>();
      command->kind = Command::kPublish;
      command->batch.messages = std::move(batch);
      command->batch.done = std::move(done);
      commands_.push_back(std::move(command));
    }
  }
  if (!refused.ok()) {
    done(refused);
    return;
  }
  SignalEventFd(wake_fd_);
}

absl::StatusOr<std::unique_ptr<Subscription>> RabbitMqTransport::Subscribe(
    const SubscribeOptions& options, DeliveryHandler handler) {
  if (options.queues.empty()) {
    return absl::InvalidArgumentError("subscribe needs at least one queue");
  }
  if (options.prefetch == 0) {
    return absl::InvalidArgumentError("prefetch must be at least 1");
  }
  for (const std::string& q : options.queues) {
    SB_RETURN_IF_ERROR(ValidateQueueName(q));
  }
  auto subscription =
      std::make_unique<RabbitMqSubscription>(this, options, std::move(handler));
  SB_RETURN_IF_ERROR(subscription->Start());
  Register(subscription.get());
  return std::unique_ptr<Subscription>(std::move(subscription));
}

uint32_t RabbitMqTransport::CountDelivery(const std::string& queue,
                                          const std::string& id) {
  std::string key = absl::StrCat(queue, "/", id);
  absl::MutexLock lock(&counts_mu_);
  auto [it, inserted] = counts_.try_emplace(key, 1);
  if (inserted) {
    count_order_.push_back(key);
    while (count_order_.size() > kMaxCountedEvents) {
      counts_.erase(count_order_.front());
      count_order_.pop_front();
    }
  }
  return ++it->second;
}

void RabbitMqTransport::ForgetDeliveries(const std::string& queue,
                                         const std::string& id) {
  absl::MutexLock lock(&counts_mu_);
  // Its place in count_order_ goes when it reaches the front.
  counts_.erase(absl::StrCat(queue, "/", id));
}

bool RabbitMqTransport::DeadLettered(const std::string& queue) {
  absl::MutexLock lock(&mu_);
  auto it = declared_.find(queue);
  return it != declared_.end() && !it->second.last_value;
}

void RabbitMqTransport::Register(RabbitMqSubscription* s) {
  absl::MutexLock lock(&mu_);
  subscriptions_.insert(s);
}

void RabbitMqTransport::Unregister(RabbitMqSubscription* s) {
  absl::MutexLock lock(&mu_);
  subscriptions_.erase(s);
}

absl::StatusOr<std::vector<QueueStats>> RabbitMqTransport::GetQueueStats(
    absl::Span<const std::string> queues) {
  auto command = std::make_unique<Command>();
  command->kind = Command::kStats;
  command->names.assign(queues.begin(), queues.end());
  SB_ASSIGN_OR_RETURN(std::shared_ptr<Reply> reply,
                      RunOnPublisher(std::move(command)));
  std::vector<QueueStats> stats = std::move(reply->stats);
  absl::MutexLock lock(&mu_);
  for (QueueStats& s : stats) {
    // AMQP reports ready messages only; unacked ones are counted by the
    // subscriptions of this bridge.
    for (RabbitMqSubscription* sub : subscriptions_) {
      s.unacked += sub->UnackedIn(s.name);
    }
  }
  std::sort(
      stats.begin(), stats.end(),
      [](const QueueStats& a, const QueueStats& b) { return a.name < b.name; });
  return stats;
}

// ---- Publisher thread ----

absl::Status RabbitMqTransport::Setup() {
  conn_.reset();
  SB_ASSIGN_OR_RETURN(conn_, AmqpConnection::Open(settings_.connection,
                                                  "publisher", next_node_));
  {
    absl::MutexLock lock(&mu_);
    connected_to_ = conn_->peer();
  }
  SB_RETURN_IF_ERROR(conn_->OpenChannel(kPublishChannel));
  SB_RETURN_IF_ERROR(conn_->OpenChannel(kAdminChannel));
  amqp_confirm_select(conn_->get(), kPublishChannel);
  SB_RETURN_IF_ERROR(conn_->CheckReply(kPublishChannel, "confirm.select"));
  amqp_exchange_declare(conn_->get(), kAdminChannel, Bytes(settings_.exchange),
                        amqp_cstring_bytes("topic"), /*passive=*/0,
                        /*durable=*/1, /*auto_delete=*/0, /*internal=*/0,
                        amqp_empty_table);
  SB_RETURN_IF_ERROR(conn_->CheckReply(
      kAdminChannel,
      absl::StrCat("declaring exchange '", settings_.exchange, "'")));
  std::vector<std::pair<std::string, QueueOptions>> queues;
  {
    absl::MutexLock lock(&mu_);
    queues.assign(declared_.begin(), declared_.end());
  }
  for (const auto& [name, options] : queues) {
    SB_RETURN_IF_ERROR(DeclareOnBroker(name, options));
  }
  // A new channel numbers confirms from 1: everything unconfirmed goes
  // again, in order. The consumer side drops the duplicates by event id.
  next_seq_ = 1;
  unconfirmed_ = 0;
  confirmed_upto_ = 0;
  confirmed_above_.clear();
  for (PendingBatch& batch : pending_) {
    SB_RETURN_IF_ERROR(PublishOnBroker(batch));
  }
  if (!pending_.empty()) {
    Log()->info("republished {} unconfirmed batches", pending_.size());
  }
  return absl::OkStatus();
}

absl::Status RabbitMqTransport::DeclareOnBroker(const std::string& name,
                                                const QueueOptions& options) {
  amqp_table_entry_t entries[10];
  int n = 0;
  entries[n].key = amqp_cstring_bytes("x-queue-type");
  entries[n].value.kind = AMQP_FIELD_KIND_UTF8;
  entries[n++].value.value.bytes = Bytes(settings_.queue_type);
  // The queue's limits (QueueLimits), as RabbitMQ's own arguments.
  const QueueLimits& limits = options.limits;
  auto add_i64 = [&](const char* key, int64_t value) {
    entries[n].key = amqp_cstring_bytes(key);
    entries[n].value.kind = AMQP_FIELD_KIND_I64;
    entries[n++].value.value.i64 = value;
  };
  if (!options.last_value) {
    if (limits.max_length > 0) {
      add_i64("x-max-length", static_cast<int64_t>(limits.max_length));
    }
    if (limits.max_bytes > 0) {
      add_i64("x-max-length-bytes", static_cast<int64_t>(limits.max_bytes));
    }
  }
  if (limits.expires > absl::ZeroDuration()) {
    add_i64("x-expires", absl::ToInt64Milliseconds(limits.expires));
  }
  // Where the dead-letter queue's own arguments end: type, bounds, expiry.
  const int dead_args = n;
  if (!options.last_value && limits.message_ttl > absl::ZeroDuration()) {
    add_i64("x-message-ttl", absl::ToInt64Milliseconds(limits.message_ttl));
  }
  if (!options.last_value && (limits.max_length > 0 || limits.max_bytes > 0)) {
    entries[n].key = amqp_cstring_bytes("x-overflow");
    entries[n].value.kind = AMQP_FIELD_KIND_UTF8;
    entries[n++].value.value.bytes = amqp_cstring_bytes(
        limits.overflow == OverflowPolicy::kRejectPublish ? "reject-publish"
                                                          : "drop-head");
  }
  const std::string dead = absl::StrCat(kDeadLetterPrefix, name);
  const bool dead_letters =
      !options.last_value && (settings_.max_deliveries > 0 ||
                              limits.overflow == OverflowPolicy::kDeadLetter);
  if (dead_letters) {
    // The dead-letter queue first, so nothing dead-lettered is dropped;
    // bounded like its queue, dropping its own head.
    amqp_table_entry_t dead_entries[5];
    int d = 0;
    for (int i = 0; i < dead_args; ++i) dead_entries[d++] = entries[i];
    if (limits.max_length > 0 || limits.max_bytes > 0) {
      dead_entries[d].key = amqp_cstring_bytes("x-overflow");
      dead_entries[d].value.kind = AMQP_FIELD_KIND_UTF8;
      dead_entries[d++].value.value.bytes = amqp_cstring_bytes("drop-head");
    }
    amqp_table_t dead_table{d, dead_entries};
    amqp_queue_declare(conn_->get(), kAdminChannel, Bytes(dead), 0,
                       settings_.durable, 0, 0, dead_table);
    absl::Status s = conn_->CheckReply(
        kAdminChannel, absl::StrCat("declaring queue '", dead, "'"));
    if (!s.ok()) {
      if (!conn_->broken()) {
        SB_RETURN_IF_ERROR(conn_->OpenChannel(kAdminChannel));
      }
      return s;
    }
    // The default exchange routes by queue name.
    entries[n].key = amqp_cstring_bytes("x-dead-letter-exchange");
    entries[n].value.kind = AMQP_FIELD_KIND_UTF8;
    entries[n++].value.value.bytes = amqp_cstring_bytes("");
    entries[n].key = amqp_cstring_bytes("x-dead-letter-routing-key");
    entries[n].value.kind = AMQP_FIELD_KIND_UTF8;
    entries[n++].value.value.bytes = Bytes(dead);
  }
  if (options.last_value) {
    // n < 6 here: type, expiry, dead-lettering at most.
    entries[n].key = amqp_cstring_bytes("x-max-length");
    entries[n].value.kind = AMQP_FIELD_KIND_I64;
    entries[n++].value.value.i64 = 1;
    entries[n].key = amqp_cstring_bytes("x-overflow");
    entries[n].value.kind = AMQP_FIELD_KIND_UTF8;
    entries[n++].value.value.bytes = amqp_cstring_bytes("drop-head");
  }
  amqp_table_t args{n, entries};
  amqp_queue_declare(conn_->get(), kAdminChannel, Bytes(name), /*passive=*/0,
                     settings_.durable, /*exclusive=*/0, /*auto_delete=*/0,
                     args);
  absl::Status s = conn_->CheckReply(
      kAdminChannel, absl::StrCat("declaring queue '", name, "'"));
  if (s.ok()) {
    amqp_queue_bind(conn_->get(), kAdminChannel, Bytes(name),
                    Bytes(settings_.exchange), Bytes(name), amqp_empty_table);
    s = conn_->CheckReply(kAdminChannel,
                          absl::StrCat("binding queue '", name, "'"));
  }
  if (!s.ok() && !conn_->broken()) {
    // The broker closed the admin channel; the connection lives on.
    SB_RETURN_IF_ERROR(conn_->OpenChannel(kAdminChannel));
  }
  return s;
}

absl::Status RabbitMqTransport::PublishOnBroker(PendingBatch& batch) {
  batch.first_seq = next_seq_;
  AmqpConnection::Cork cork(*conn_);
  for (const OutgoingMessage& m : batch.messages) {
    amqp_basic_properties_t props;
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG |
                   AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG |
                   AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_APP_ID_FLAG |
                   AMQP_BASIC_TIMESTAMP_FLAG;
    props.content_type = amqp_cstring_bytes(kContentType);
    props.delivery_mode = settings_.durable ? 2 : 1;
    props.message_id = Bytes(m.id);
    props.type = Bytes(m.type);
    props.app_id = Bytes(m.source);
    props.timestamp = static_cast<uint64_t>(m.time_unix_nanos / 1000000000);
    for (const std::string& q : m.queues) {
      // Mandatory: a queue that expired (x-expires) makes the broker return
      // the message instead of dropping it silently.
      absl::Status s = conn_->CheckCode(
          amqp_basic_publish(conn_->get(), kPublishChannel,
                             Bytes(settings_.exchange), Bytes(q),
                             /*mandatory=*/1, /*immediate=*/0, &props,
                             Bytes(*m.payload)),
          "publishing");
      if (!s.ok()) {
        // A publish can fail half-written: nothing more may go on this
        // connection. The batch is republished after the reconnect.
        conn_->MarkBroken();
        return s;
      }
      ++next_seq_;
      ++unconfirmed_;
    }
  }
  batch.last_seq = next_seq_ - 1;
  batch.published = true;
  batch.nacked = false;
  batch.nacked_queue.clear();
  batch.refused.clear();
  batch.returned_queue.clear();
  return absl::OkStatus();
}

void RabbitMqTransport::Nack(PendingBatch& batch, uint64_t seq) {
  auto [message, queue] = batch.At(seq);
  if (queue == nullptr) return;
  bool rejects = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = declared_.find(*queue);
    rejects = it != declared_.end() &&
              it->second.limits.overflow == OverflowPolicy::kRejectPublish;
    if (rejects) ++rejected_[*queue];
  }
  if (!rejects) {
    if (!batch.nacked) batch.nacked_queue = *queue;
    batch.nacked = true;
    return;
  }
  batch.refused.push_back(
      Refusal{message, *queue,
              absl::ResourceExhaustedError(absl::StrCat(
                  "queue '", *queue,
                  "' is full (x-max-length or x-max-length-bytes reached, "
                  "x-overflow reject-publish)"))});
}

void RabbitMqTransport::Confirm(uint64_t seq, bool multiple, bool ack) {
  if (!ack) {
    for (PendingBatch& batch : pending_) {
      if (!batch.published || batch.first_seq > seq) break;
      if (!multiple) {
        if (batch.last_seq >= seq) {
          Nack(batch, seq);
          break;
        }
        continue;
      }
      // Every unconfirmed sequence number up to `seq`.
      for (uint64_t s = std::max(batch.first_seq, confirmed_upto_ + 1);
           s <= std::min(batch.last_seq, seq); ++s) {
        if (!confirmed_above_.contains(s)) Nack(batch, s);
      }
    }
  }
  if (multiple) {
    confirmed_upto_ = std::max(confirmed_upto_, seq);
  } else if (seq > confirmed_upto_) {
    confirmed_above_.insert(seq);
  }
  while (!confirmed_above_.empty() &&
         *confirmed_above_.begin() <= confirmed_upto_ + 1) {
    confirmed_upto_ = std::max(confirmed_upto_, *confirmed_above_.begin());
    confirmed_above_.erase(confirmed_above_.begin());
  }
  // Batches are answered in order, once every message up to theirs is
  // confirmed.
  while (!pending_.empty() && pending_.front().published &&
         pending_.front().last_seq <= confirmed_upto_) {
    if (pending_.front().nacked && pending_.front().returned_queue.empty()) {
      // The broker could not store it (not a reject-publish refusal): it
      // stays pending, and with it every batch after it, to be published
      // again in order on a new connection (ReadConfirms ends this one).
      nack_queue_ = pending_.front().nacked_queue;
      break;
    }
    PendingBatch batch = std::move(pending_.front());
    pending_.pop_front();
    if (!batch.returned_queue.empty()) {
      batch.done(absl::NotFoundError(absl::StrCat(
          "queue '", batch.returned_queue,
          "' no longer exists on the broker (it expired, or was deleted); "
          "declare it again")));
    } else {
      std::sort(batch.refused.begin(), batch.refused.end(),
                [](const Refusal& a, const Refusal& b) {
                  return a.message < b.message;
                });
      nack_backoff_ = settings_.reconnect_initial;
      batch.done(PublishResult(absl::OkStatus(), std::move(batch.refused)));
    }
  }
  unconfirmed_ = next_seq_ - 1 - confirmed_upto_ - confirmed_above_.size();
}

absl::Status RabbitMqTransport::ReadConfirms(absl::Duration timeout) {
  timeval tv = absl::ToTimeval(timeout);
  for (;;) {
    amqp_frame_t frame;
    int rc = amqp_simple_wait_frame_noblock(conn_->get(), &frame, &tv);
    if (rc == AMQP_STATUS_TIMEOUT) return absl::OkStatus();
    SB_RETURN_IF_ERROR(conn_->CheckCode(rc, "reading confirms"));
    tv = timeval{0, 0};
    if (frame.frame_type != AMQP_FRAME_METHOD) continue;
    const amqp_method_t& method = frame.payload.method;
    if (method.id == AMQP_BASIC_ACK_METHOD) {
      auto* a = static_cast<amqp_basic_ack_t*>(method.decoded);
      Confirm(a->delivery_tag, a->multiple, true);
    } else if (method.id == AMQP_BASIC_NACK_METHOD) {
      auto* a = static_cast<amqp_basic_nack_t*>(method.decoded);
      Confirm(a->delivery_tag, a->multiple, false);
    } else if (method.id == AMQP_BASIC_RETURN_METHOD) {
      auto* r = static_cast<amqp_basic_return_t*>(method.decoded);
      const std::string queue = ToString(r->routing_key);
      amqp_message_t message;
      SB_RETURN_IF_ERROR(conn_->Check(
          amqp_read_message(conn_->get(), frame.channel, &message, 0),
          frame.channel, "reading a returned message"));
      std::string id;
      if (message.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) {
        id = ToString(message.properties.message_id);
      }
      amqp_destroy_message(&message);
      Returned(queue, id);
    } else if (method.id == AMQP_CHANNEL_CLOSE_METHOD ||
               method.id == AMQP_CONNECTION_CLOSE_METHOD) {
      absl::Status s = conn_->HandleClose(frame, "publishing");
      conn_->MarkBroken();
      return absl::UnavailableError(s.message());
    }
    if (!nack_queue_.empty()) {
      // A quorum queue whose leader moved can leave the connection that
      // published to it failing every later publish to it (seen with
      // RabbitMQ 3.10.8 after a node loss, for over a minute, while a new
      // connection published at once): the next connection (to the next
      // node) publishes the nacked batch and all after it again.
      std::string queue = std::exchange(nack_queue_, "");
      conn_->MarkBroken();
      ended_by_nack_ = true;
      return absl::UnavailableError(absl::StrCat(
          "the broker at ", conn_->peer(), " nacked a publish to queue '",
          queue, "' (it could not store it); publishing it again"));
    }
    amqp_maybe_release_buffers(conn_->get());
  }
}

void RabbitMqTransport::Returned(const std::string& queue,
                                 const std::string& id) {
  // Its confirm follows; the batch holding the oldest unconfirmed copy of
  // this message for this queue fails when it completes.
  for (PendingBatch& batch : pending_) {
    if (!batch.published) break;
    for (const OutgoingMessage& m : batch.messages) {
      if (m.id != id) continue;
      for (const std::string& q : m.queues) {
        if (q != queue) continue;
        batch.returned_queue = queue;
        // Publish refuses it (NotFound) until it is declared again.
        absl::MutexLock lock(&mu_);
        declared_.erase(queue);
        Log()->warn(
            "queue {} no longer exists on the broker; it will be "
            "declared again",
            queue);
        return;
      }
    }
  }
}

absl::Status RabbitMqTransport::Execute(Command& command) {
  switch (command.kind) {
    case Command::kPublish: {
      uint64_t n = 0;
      for (const auto& m : command.batch.messages) n += m.queues.size();
      // Pending first: if the connection drops from here on, the batch is
      // republished after the reconnect.
      pending_.push_back(std::move(command.batch));
      // Respect the confirm window, but never stall a batch larger than it.
      while (unconfirmed_ > 0 && unconfirmed_ + n > settings_.confirm_window) {
        SB_RETURN_IF_ERROR(ReadConfirms(absl::Seconds(1)));
      }
      return PublishOnBroker(pending_.back());
    }
    case Command::kDeclare: {
      absl::Status s = DeclareOnBroker(command.name, command.options);
      if (s.ok()) {
        absl::MutexLock lock(&mu_);
        declared_[command.name] = command.options;
      }
      return s;
    }
    case Command::kStats: {
      std::vector<std::string> names = command.names;
      // All queues: one that is gone (expired, deleted, a dead-letter queue
      // never declared) is left out, not an error for the others.
      const bool all = names.empty();
      if (all) {
        absl::MutexLock lock(&mu_);
        for (const auto& [name, options] : declared_) {
          names.push_back(name);
          if (settings_.max_deliveries > 0 && !options.last_value) {
            names.push_back(absl::StrCat(kDeadLetterPrefix, name));
          }
        }
      }
      for (const std::string& name : names) {
        auto* ok = amqp_queue_declare(conn_->get(), kAdminChannel, Bytes(name),
                                      /*passive=*/1, 0, 0, 0, amqp_empty_table);
        absl::Status s = conn_->CheckReply(
            kAdminChannel, absl::StrCat("looking up queue '", name, "'"));
        if (!s.ok()) {
          if (!conn_->broken()) {
            SB_RETURN_IF_ERROR(conn_->OpenChannel(kAdminChannel));
          }
          if (absl::IsNotFound(s)) {
            // Expired or deleted: the next declaration goes to the broker.
            {
              absl::MutexLock lock(&mu_);
              declared_.erase(name);
            }
            if (all) continue;
            return absl::NotFoundError(
                absl::StrCat("queue '", name, "' does not exist"));
          }
          return s;
        }
        QueueStats stats;
        stats.name = name;
        stats.depth = ok->message_count;
        stats.consumers = ok->consumer_count;
        absl::MutexLock lock(&mu_);
        auto it = declared_.find(name);
        stats.last_value = it != declared_.end() && it->second.last_value;
        auto rejected = rejected_.find(name);
        if (rejected != rejected_.end()) stats.rejected = rejected->second;
        command.reply->stats.push_back(std::move(stats));
      }
      return absl::OkStatus();
    }
  }
  return absl::InternalError("unknown command");
}

void RabbitMqTransport::FailAllPending(const absl::Status& status) {
  while (!pending_.empty()) {
    PendingBatch batch = std::move(pending_.front());
    pending_.pop_front();
    batch.done(status);
  }
  unconfirmed_ = 0;
}

void RabbitMqTransport::PublisherLoop() {
  absl::Duration backoff = settings_.reconnect_initial;
  const absl::Duration idle =
      absl::Seconds(std::max(1, settings_.connection.heartbeat_seconds / 2));
  absl::Time stop_deadline = absl::InfiniteFuture();
  for (;;) {
    std::deque<std::unique_ptr<Command>> commands;
    bool stopping;
    {
      absl::MutexLock lock(&mu_);
      commands.swap(commands_);
      stopping = stopping_;
    }
    if (stopping && stop_deadline == absl::InfiniteFuture()) {
      // Give unconfirmed batches a moment to be confirmed.
      stop_deadline = absl::Now() + absl::Seconds(5);
    }
    if (conn_ == nullptr) {
      if (stopping) {
        absl::MutexLock lock(&mu_);
        for (auto it = commands.rbegin(); it != commands.rend(); ++it) {
          commands_.push_front(std::move(*it));
        }
        break;
      }
      absl::Status s = Setup();
      if (!s.ok()) {
        // Set up failed half-way (a node that is going away): the next
        // attempt starts with another node.
        if (conn_ != nullptr) {
          next_node_ = NextNode(settings_.connection, conn_->node());
        }
        conn_.reset();
        Log()->warn("cannot reach the broker ({}); retrying in {}",
                    s.ToString(), absl::FormatDuration(backoff));
        {
          absl::MutexLock lock(&mu_);
          for (auto it = commands.rbegin(); it != commands.rend(); ++it) {
            commands_.push_front(std::move(*it));
          }
          mu_.AwaitWithTimeout(absl::Condition(&stopping_), backoff);
        }
        backoff = std::min(backoff * 2, settings_.reconnect_max);
        continue;
      }
      backoff = settings_.reconnect_initial;
      Log()->info("publisher connected to {}", conn_->peer());
    }
    absl::Status error;
    while (!commands.empty()) {
      std::unique_ptr<Command> command = std::move(commands.front());
      commands.pop_front();
      absl::Status s = Execute(*command);
      if (command->kind != Command::kPublish) {
        command->reply->result = s;
        command->reply->finished.Notify();
      }
      if (!s.ok() && conn_->broken()) {
        error = s;
        break;
      }
    }
    if (error.ok()) {
      // Once stopping, the wake-up has been consumed: never wait long.
      absl::Duration wait = unconfirmed_ > 0 ? absl::Milliseconds(100) : idle;
      if (stopping) wait = std::min(wait, absl::Milliseconds(10));
      auto ready = conn_->WaitForInput(wake_fd_, wait);
      DrainEventFd(wake_fd_);
      if (!ready.ok()) {
        error = ready.status();
      } else if (*ready) {
        error = ReadConfirms(absl::ZeroDuration());
      }
    }
    if (!error.ok()) {
      Log()->warn(
          "publisher connection to {} lost ({}); {} batches unconfirmed, "
          "reconnecting",
          conn_->peer(), error.ToString(), pending_.size());
      next_node_ = NextNode(settings_.connection, conn_->node());
      conn_->MarkBroken();
      conn_.reset();
      absl::MutexLock lock(&mu_);
      for (auto it = commands.rbegin(); it != commands.rend(); ++it) {
        commands_.push_front(std::move(*it));
      }
      if (std::exchange(ended_by_nack_, false)) {
        // Nacks that go on (a queue without a majority of its members)
        // must not become a reconnect loop: back off until a batch is
        // stored.
        mu_.AwaitWithTimeout(absl::Condition(&stopping_), nack_backoff_);
        nack_backoff_ = std::min(nack_backoff_ * 2, settings_.reconnect_max);
      }
      continue;
    }
    if (stopping && (pending_.empty() || absl::Now() > stop_deadline)) break;
  }
  FailAllPending(absl::UnavailableError("the rabbitmq transport stopped"));
  absl::MutexLock lock(&mu_);
  for (auto& command : commands_) {
    if (command->kind == Command::kPublish) {
      command->batch.done(absl::UnavailableError("the transport stopped"));
    } else {
      command->reply->result = absl::UnavailableError("the transport stopped");
      command->reply->finished.Notify();
    }
  }
  commands_.clear();
}

SB_REGISTER_TRANSPORT("rabbitmq", RabbitMqTransport::Create,
                      RabbitMqTransport::ParseSettings);

}  // namespace switchboard::bridge::rabbitmq
