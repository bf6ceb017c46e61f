#include "services/mq-bridge/transport/rabbitmq/rabbitmq_subscription.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "services/common/logging.h"
#include "services/common/status_macros.h"
#include "services/mq-bridge/transport/rabbitmq/amqp_tables.h"

namespace switchboard::bridge::rabbitmq {
namespace {

constexpr amqp_channel_t kConsumeChannel = 1;
constexpr size_t kMaxDeliveriesPerBatch = 1024;

std::shared_ptr<spdlog::logger> Log() { return Logger("bridge.rabbitmq"); }

}  // namespace

absl::StatusOr<std::unique_ptr<RabbitMqSubscription>>
RabbitMqSubscription::Start(const Settings& settings, SharedState* shared,
                            SubscribeOptions options, DeliveryHandler handler) {
  SB_ASSIGN_OR_RETURN(EventFd wake, EventFd::Create());
  auto subscription = std::unique_ptr<RabbitMqSubscription>(
      new RabbitMqSubscription(settings, shared, std::move(options),
                               std::move(handler), std::move(wake)));
  subscription->thread_ = std::thread([s = subscription.get()] { s->Loop(); });
  subscription->started_.WaitForNotification();
  SB_RETURN_IF_ERROR(subscription->start_status_);
  absl::MutexLock lock(&shared->mu);
  shared->subscriptions.insert(subscription.get());
  return subscription;
}

RabbitMqSubscription::RabbitMqSubscription(const Settings& settings,
                                           SharedState* shared,
                                           SubscribeOptions options,
                                           DeliveryHandler handler,
                                           EventFd wake)
    : settings_(settings),
      shared_(shared),
      options_(std::move(options)),
      handler_(std::move(handler)),
      wake_(std::move(wake)) {}

RabbitMqSubscription::~RabbitMqSubscription() {
  {
    absl::MutexLock lock(&shared_->mu);
    shared_->subscriptions.erase(this);
  }
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  wake_.Signal();
  if (thread_.joinable()) thread_.join();
}

absl::Status RabbitMqSubscription::Ack(absl::Span<const uint64_t> tags) {
  return Settle(tags, Settlement::kAck);
}

absl::Status RabbitMqSubscription::Nack(absl::Span<const uint64_t> tags,
                                        bool requeue) {
  return Settle(tags, requeue ? Settlement::kRequeue : Settlement::kDrop);
}

uint64_t RabbitMqSubscription::UnackedIn(const std::string& queue) {
  absl::MutexLock lock(&mu_);
  uint64_t n = 0;
  for (const auto& [tag, held] : outstanding_) n += (held.queue == queue);
  return n;
}

absl::Status RabbitMqSubscription::Settle(absl::Span<const uint64_t> tags,
                                          Settlement kind) {
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
        shared_->deliveries.Forget(it->second.queue, it->second.id);
      }
      outstanding_.erase(it);
      settlements_.push_back({tag - base_, kind});
    }
  }
  wake_.Signal();
  return absl::OkStatus();
}

absl::Status RabbitMqSubscription::Setup() {
  SB_ASSIGN_OR_RETURN(conn_, AmqpConnection::Open(settings_.connection,
                                                  "subscription", next_node_));
  SB_RETURN_IF_ERROR(conn_->OpenChannel(kConsumeChannel));
  // One window for the whole subscription; quorum queues only support
  // per-consumer windows.
  const bool global =
      options_.queues.size() > 1 && settings_.queue_type != "quorum";
  amqp_basic_qos(conn_->get(), kConsumeChannel, 0,
                 static_cast<uint16_t>(BrokerPrefetch()), global);
  SB_RETURN_IF_ERROR(conn_->CheckReply(kConsumeChannel, "basic.qos"));
  consumer_queues_.clear();
  for (const std::string& queue : options_.queues) {
    auto* ok = amqp_basic_consume(conn_->get(), kConsumeChannel, Bytes(queue),
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

void RabbitMqSubscription::Drop(const absl::Status& why) {
  Log()->warn(
      "subscription connection to {} lost ({}); the broker requeues its "
      "unacked messages; reconnecting",
      conn_->peer(), why.ToString());
  // Fail over: the next attempt starts with the node after this one.
  next_node_ = NextNode(settings_.connection, conn_->node());
  conn_->MarkBroken();
  conn_.reset();
  absl::MutexLock lock(&mu_);
  outstanding_.clear();
  settlements_.clear();
  base_ = last_tag_;
}

void RabbitMqSubscription::Loop() {
  start_status_ = Setup();
  started_.Notify();
  if (!start_status_.ok()) return;
  absl::Duration backoff = settings_.reconnect_initial;
  const absl::Duration idle =
      absl::Seconds(std::max(1, settings_.connection.heartbeat_seconds / 2));
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    if (conn_ == nullptr) {
      if (StoppingWithin(backoff)) return;
      Reconnect(&backoff);
      continue;
    }
    if (absl::Status s = SendSettlements(); !s.ok()) {
      Drop(s);
      continue;
    }
    auto ready = conn_->WaitForInput(wake_.fd(), idle);
    wake_.Drain();
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

void RabbitMqSubscription::Reconnect(absl::Duration* backoff) {
  absl::Status s = Setup();
  if (!s.ok()) {
    if (conn_ != nullptr) {
      next_node_ = NextNode(settings_.connection, conn_->node());
    }
    conn_.reset();
    *backoff = std::min(*backoff * 2, settings_.reconnect_max);
    return;
  }
  *backoff = settings_.reconnect_initial;
  Log()->info("subscription reconnected to {}", conn_->peer());
}

absl::Status RabbitMqSubscription::SendSettlements() {
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

absl::Status RabbitMqSubscription::ReadDeliveries(std::vector<Delivery>* out) {
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
      SB_RETURN_IF_ERROR(ReadOtherFrame());
      continue;
    }
    return conn_->Check(reply, kConsumeChannel, "consuming");
  } while (conn_->HasBufferedInput() && out->size() < kMaxDeliveriesPerBatch);
  return absl::OkStatus();
}

absl::Status RabbitMqSubscription::ReadOtherFrame() {
  amqp_frame_t frame;
  SB_RETURN_IF_ERROR(conn_->CheckCode(
      amqp_simple_wait_frame(conn_->get(), &frame), "reading"));
  if (frame.frame_type != AMQP_FRAME_METHOD) return absl::OkStatus();
  if (frame.payload.method.id == AMQP_BASIC_CANCEL_METHOD) {
    return absl::UnavailableError(
        "the broker cancelled the consumer (queue deleted?)");
  }
  if (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
      frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
    absl::Status s = conn_->HandleClose(frame, "consuming");
    return absl::UnavailableError(s.message());
  }
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
absl::Status RabbitMqSubscription::Linger(std::vector<Delivery>* batch) {
  // A read of other frames only (a heartbeat) says nothing about load.
  if (batch->empty()) return absl::OkStatus();
  const absl::Duration linger = settings_.delivery_linger;
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

bool RabbitMqSubscription::StoppingWithin(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), timeout);
  return stopping_;
}

uint32_t RabbitMqSubscription::BrokerPrefetch() const {
  return std::min<uint32_t>(options_.prefetch, 65535);
}

size_t RabbitMqSubscription::Outstanding() {
  absl::MutexLock lock(&mu_);
  return outstanding_.size();
}

bool RabbitMqSubscription::DeadLettered(const std::string& queue) {
  absl::MutexLock lock(&shared_->mu);
  auto it = shared_->declared.find(queue);
  return it != shared_->declared.end() && !it->second.last_value;
}

std::optional<Delivery> RabbitMqSubscription::ToDelivery(
    const amqp_envelope_t& envelope) {
  Delivery d;
  const amqp_basic_properties_t& p = envelope.message.properties;
  if (p._flags & AMQP_BASIC_MESSAGE_ID_FLAG) d.id = ToString(p.message_id);
  d.payload =
      std::make_shared<const std::string>(ToString(envelope.message.body));
  d.redelivered = envelope.redelivered;
  d.delivery_count = BrokerDeliveryCount(envelope);
  auto it = consumer_queues_.find(ToString(envelope.consumer_tag));
  d.queue = it != consumer_queues_.end() ? it->second
                                         : ToString(envelope.routing_key);
  const uint32_t limit = settings_.max_deliveries;
  // A first delivery is delivery 1 by definition: only redeliveries are
  // counted, which keeps the count table off the common path.
  const bool counted = limit > 0 && (d.redelivered || d.delivery_count > 1) &&
                       !d.id.empty() && DeadLettered(d.queue);
  if (counted) {
    const uint32_t count = shared_->deliveries.Count(d.queue, d.id);
    d.delivery_count = std::max(d.delivery_count, count);
    if (count > limit) {
      Log()->warn("event {} from {} failed {} deliveries; moved to {}", d.id,
                  d.queue, limit, DeadLetterQueue(d.queue));
      shared_->deliveries.Forget(d.queue, d.id);
      return std::nullopt;
    }
  }
  absl::MutexLock lock(&mu_);
  d.tag = base_ + envelope.delivery_tag;
  last_tag_ = std::max(last_tag_, d.tag);
  outstanding_.emplace(d.tag, Held{d.queue, d.id, counted});
  return d;
}

}  // namespace switchboard::bridge::rabbitmq
