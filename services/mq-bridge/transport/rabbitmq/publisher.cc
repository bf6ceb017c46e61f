#include "services/mq-bridge/transport/rabbitmq/publisher.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/common/logging.h"
#include "services/common/status_macros.h"
#include "services/mq-bridge/transport/rabbitmq/amqp_tables.h"

namespace switchboard::bridge::rabbitmq {
namespace {

constexpr amqp_channel_t kPublishChannel = 1;
// Declares and passive look-ups: a failed one closes its channel, which
// must not be the confirm channel.
constexpr amqp_channel_t kAdminChannel = 2;

std::shared_ptr<spdlog::logger> Log() { return Logger("bridge.rabbitmq"); }

}  // namespace

Publisher::Publisher(const Settings& settings, SharedState* shared)
    : settings_(settings),
      shared_(shared),
      idle_(absl::Seconds(
          std::max(1, settings.connection.heartbeat_seconds / 2))),
      tracker_(
          settings.confirm_window,
          [this](const std::string& queue) { return RefusedByPolicy(queue); }),
      nack_backoff_(settings.reconnect_initial) {}

Publisher::~Publisher() { Stop(); }

absl::Status Publisher::Start() {
  SB_RETURN_IF_ERROR(Setup());
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void Publisher::Stop() {
  {
    absl::MutexLock lock(&shared_->mu);
    shared_->stopping = true;
  }
  shared_->wake.Signal();
  if (thread_.joinable()) thread_.join();
}

bool Publisher::RefusedByPolicy(const std::string& queue) {
  absl::MutexLock lock(&shared_->mu);
  auto it = shared_->declared.find(queue);
  const bool rejects =
      it != shared_->declared.end() &&
      it->second.limits.overflow == OverflowPolicy::kRejectPublish;
  if (rejects) ++shared_->rejected[queue];
  return rejects;
}

// ---- The thread ----

void Publisher::Loop() {
  absl::Duration backoff = settings_.reconnect_initial;
  absl::Time stop_deadline = absl::InfiniteFuture();
  for (;;) {
    std::deque<Command> commands;
    bool stopping;
    {
      absl::MutexLock lock(&shared_->mu);
      commands.swap(shared_->commands);
      stopping = shared_->stopping;
    }
    if (stopping && stop_deadline == absl::InfiniteFuture()) {
      // Give unconfirmed batches a moment to be confirmed.
      stop_deadline = absl::Now() + absl::Seconds(5);
    }
    if (conn_ == nullptr) {
      if (stopping) {
        absl::MutexLock lock(&shared_->mu);
        Requeue(&commands);
        break;
      }
      if (!Reconnect(&commands, &backoff)) continue;
    }
    absl::Status error = RunCommands(&commands);
    if (error.ok()) error = AwaitConfirms(stopping);
    if (!error.ok()) {
      ConnectionLost(error, &commands);
      continue;
    }
    if (stopping &&
        (tracker_.pending_batches() == 0 || absl::Now() > stop_deadline)) {
      break;
    }
  }
  FailEverything();
}

bool Publisher::Reconnect(std::deque<Command>* commands,
                          absl::Duration* backoff) {
  absl::Status s = Setup();
  if (!s.ok()) {
    // Set up failed half-way (a node that is going away): the next
    // attempt starts with another node.
    if (conn_ != nullptr) {
      next_node_ = NextNode(settings_.connection, conn_->node());
    }
    conn_.reset();
    Log()->warn("cannot reach the broker ({}); retrying in {}", s.ToString(),
                absl::FormatDuration(*backoff));
    {
      absl::MutexLock lock(&shared_->mu);
      Requeue(commands);
      shared_->mu.AwaitWithTimeout(absl::Condition(&shared_->stopping),
                                   *backoff);
    }
    *backoff = std::min(*backoff * 2, settings_.reconnect_max);
    return false;
  }
  *backoff = settings_.reconnect_initial;
  Log()->info("publisher connected to {}", conn_->peer());
  return true;
}

absl::Status Publisher::RunCommands(std::deque<Command>* commands) {
  while (!commands->empty()) {
    Command command = std::move(commands->front());
    commands->pop_front();
    absl::Status s = Execute(command);
    if (Reply* reply = ReplyOf(command)) {
      reply->result = s;
      reply->finished.Notify();
    }
    if (!s.ok() && conn_->broken()) return s;
  }
  return absl::OkStatus();
}

absl::Status Publisher::AwaitConfirms(bool stopping) {
  // Once stopping, the wake-up has been consumed: never wait long.
  absl::Duration wait =
      tracker_.unconfirmed() > 0 ? absl::Milliseconds(100) : idle_;
  if (stopping) wait = std::min(wait, absl::Milliseconds(10));
  auto ready = conn_->WaitForInput(shared_->wake.fd(), wait);
  shared_->wake.Drain();
  if (!ready.ok()) return ready.status();
  if (*ready) return ReadConfirms(absl::ZeroDuration());
  return absl::OkStatus();
}

void Publisher::ConnectionLost(const absl::Status& error,
                               std::deque<Command>* commands) {
  Log()->warn(
      "publisher connection to {} lost ({}); {} batches unconfirmed, "
      "reconnecting",
      conn_->peer(), error.ToString(), tracker_.pending_batches());
  next_node_ = NextNode(settings_.connection, conn_->node());
  conn_->MarkBroken();
  conn_.reset();
  absl::MutexLock lock(&shared_->mu);
  Requeue(commands);
  if (std::exchange(ended_by_nack_, false)) {
    // Nacks that go on (a queue without a majority of its members) must
    // not become a reconnect loop: back off until a batch is stored.
    shared_->mu.AwaitWithTimeout(absl::Condition(&shared_->stopping),
                                 nack_backoff_);
    nack_backoff_ = std::min(nack_backoff_ * 2, settings_.reconnect_max);
  }
}

void Publisher::Requeue(std::deque<Command>* commands) {
  for (auto it = commands->rbegin(); it != commands->rend(); ++it) {
    shared_->commands.push_front(std::move(*it));
  }
}

void Publisher::FailEverything() {
  tracker_.FailAll(absl::UnavailableError("the rabbitmq transport stopped"));
  absl::MutexLock lock(&shared_->mu);
  for (Command& command : shared_->commands) {
    if (auto* publish = std::get_if<PublishCommand>(&command)) {
      publish->batch.done(absl::UnavailableError("the transport stopped"));
    } else {
      Reply* reply = ReplyOf(command);
      reply->result = absl::UnavailableError("the transport stopped");
      reply->finished.Notify();
    }
  }
  shared_->commands.clear();
}

// ---- The connection ----

absl::Status Publisher::Setup() {
  conn_.reset();
  SB_ASSIGN_OR_RETURN(conn_, AmqpConnection::Open(settings_.connection,
                                                  "publisher", next_node_));
  {
    absl::MutexLock lock(&shared_->mu);
    shared_->connected_to = conn_->peer();
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
    absl::MutexLock lock(&shared_->mu);
    queues.assign(shared_->declared.begin(), shared_->declared.end());
  }
  for (const auto& [name, options] : queues) {
    SB_RETURN_IF_ERROR(DeclareOnBroker(name, options));
  }
  // A new channel numbers confirms from 1: everything unconfirmed goes
  // again, in order. The consumer side drops the duplicates by event id.
  tracker_.Restart();
  SB_RETURN_IF_ERROR(tracker_.ForEachPending(
      [this](PendingBatch& batch) { return PublishOnBroker(batch); }));
  if (tracker_.pending_batches() > 0) {
    Log()->info("republished {} unconfirmed batches",
                tracker_.pending_batches());
  }
  return absl::OkStatus();
}

absl::Status Publisher::DeclareOnBroker(const std::string& name,
                                        const QueueOptions& options) {
  const QueueArguments args(name, options, settings_.queue_type,
                            settings_.max_deliveries);
  if (args.dead_letters()) {
    // The dead-letter queue first, so nothing dead-lettered is dropped.
    const std::string& dead = args.dead_letter_queue();
    amqp_queue_declare(conn_->get(), kAdminChannel, Bytes(dead), 0,
                       settings_.durable, 0, 0, args.dead_letter_table());
    absl::Status s = conn_->CheckReply(
        kAdminChannel, absl::StrCat("declaring queue '", dead, "'"));
    if (!s.ok()) {
      if (!conn_->broken()) {
        SB_RETURN_IF_ERROR(conn_->OpenChannel(kAdminChannel));
      }
      return s;
    }
  }
  amqp_queue_declare(conn_->get(), kAdminChannel, Bytes(name), /*passive=*/0,
                     settings_.durable, /*exclusive=*/0, /*auto_delete=*/0,
                     args.table());
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

absl::Status Publisher::PublishOnBroker(PendingBatch& batch) {
  AmqpConnection::Cork cork(*conn_);
  absl::Status s = tracker_.Publish(batch, [this](const OutgoingMessage& m,
                                                  const std::string& q) {
    const amqp_basic_properties_t props =
        MessageProperties(m, settings_.durable);
    // Mandatory: a queue that expired (x-expires) makes the broker
    // return the message instead of dropping it silently.
    return conn_->CheckCode(
        amqp_basic_publish(
            conn_->get(), kPublishChannel, Bytes(settings_.exchange), Bytes(q),
            /*mandatory=*/1, /*immediate=*/0, &props, Bytes(*m.payload)),
        "publishing");
  });
  if (!s.ok()) {
    // A publish can fail half-written: nothing more may go on this
    // connection. The batch is republished after the reconnect.
    conn_->MarkBroken();
  }
  return s;
}

absl::Status Publisher::ReadConfirms(absl::Duration timeout) {
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
      SB_RETURN_IF_ERROR(
          Confirmed(tracker_.Confirm(a->delivery_tag, a->multiple, true)));
    } else if (method.id == AMQP_BASIC_NACK_METHOD) {
      auto* a = static_cast<amqp_basic_nack_t*>(method.decoded);
      SB_RETURN_IF_ERROR(
          Confirmed(tracker_.Confirm(a->delivery_tag, a->multiple, false)));
    } else if (method.id == AMQP_BASIC_RETURN_METHOD) {
      SB_RETURN_IF_ERROR(ReadReturned(frame));
    } else if (method.id == AMQP_CHANNEL_CLOSE_METHOD ||
               method.id == AMQP_CONNECTION_CLOSE_METHOD) {
      absl::Status s = conn_->HandleClose(frame, "publishing");
      conn_->MarkBroken();
      return absl::UnavailableError(s.message());
    }
    amqp_maybe_release_buffers(conn_->get());
  }
}

absl::Status Publisher::Confirmed(const ConfirmTracker::Outcome& outcome) {
  if (outcome.stored > 0) nack_backoff_ = settings_.reconnect_initial;
  if (outcome.nacked_queue.empty()) return absl::OkStatus();
  // A quorum queue whose leader moved can leave the connection that
  // published to it failing every later publish to it (seen with RabbitMQ
  // 3.10.8 after a node loss, for over a minute, while a new connection
  // published at once): the next connection (to the next node) publishes
  // the nacked batch and all after it again.
  conn_->MarkBroken();
  ended_by_nack_ = true;
  return absl::UnavailableError(absl::StrCat(
      "the broker at ", conn_->peer(), " nacked a publish to queue '",
      outcome.nacked_queue, "' (it could not store it); publishing it again"));
}

absl::Status Publisher::ReadReturned(const amqp_frame_t& frame) {
  auto* r = static_cast<amqp_basic_return_t*>(frame.payload.method.decoded);
  const std::string queue = ToString(r->routing_key);
  amqp_message_t message;
  SB_RETURN_IF_ERROR(
      conn_->Check(amqp_read_message(conn_->get(), frame.channel, &message, 0),
                   frame.channel, "reading a returned message"));
  std::string id;
  if (message.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) {
    id = ToString(message.properties.message_id);
  }
  amqp_destroy_message(&message);
  // Its confirm follows; the batch holding the oldest unconfirmed copy of
  // this message for this queue fails when it completes.
  if (!tracker_.Returned(queue, id)) return absl::OkStatus();
  {
    // Publish refuses it (NotFound) until it is declared again.
    absl::MutexLock lock(&shared_->mu);
    shared_->declared.erase(queue);
  }
  Log()->warn(
      "queue {} no longer exists on the broker; it will be declared again",
      queue);
  return absl::OkStatus();
}

// ---- Commands ----

absl::Status Publisher::Execute(Command& command) {
  if (auto* publish = std::get_if<PublishCommand>(&command)) {
    return ExecutePublish(std::move(publish->batch));
  }
  if (const auto* declare = std::get_if<DeclareCommand>(&command)) {
    return ExecuteDeclare(*declare);
  }
  return ExecuteStats(std::get<StatsCommand>(command));
}

absl::Status Publisher::ExecutePublish(PendingBatch batch) {
  const uint64_t n = batch.Copies();
  // Pending first: if the connection drops from here on, the batch is
  // republished after the reconnect.
  PendingBatch& pending = tracker_.Add(std::move(batch));
  // Respect the confirm window, but never stall a batch larger than it.
  while (!tracker_.HasRoomFor(n)) {
    SB_RETURN_IF_ERROR(ReadConfirms(absl::Seconds(1)));
  }
  return PublishOnBroker(pending);
}

absl::Status Publisher::ExecuteDeclare(const DeclareCommand& command) {
  absl::Status s = DeclareOnBroker(command.name, command.options);
  if (s.ok()) {
    absl::MutexLock lock(&shared_->mu);
    shared_->declared[command.name] = command.options;
  }
  return s;
}

absl::Status Publisher::ExecuteStats(const StatsCommand& command) {
  std::vector<std::string> names = command.names;
  // All queues: one that is gone (expired, deleted, a dead-letter queue
  // never declared) is left out, not an error for the others.
  const bool all = names.empty();
  if (all) {
    absl::MutexLock lock(&shared_->mu);
    for (const auto& [name, options] : shared_->declared) {
      names.push_back(name);
      if (settings_.max_deliveries > 0 && !options.last_value) {
        names.push_back(DeadLetterQueue(name));
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
          absl::MutexLock lock(&shared_->mu);
          shared_->declared.erase(name);
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
    absl::MutexLock lock(&shared_->mu);
    auto it = shared_->declared.find(name);
    stats.last_value = it != shared_->declared.end() && it->second.last_value;
    auto rejected = shared_->rejected.find(name);
    if (rejected != shared_->rejected.end()) stats.rejected = rejected->second;
    command.reply->stats.push_back(std::move(stats));
  }
  return absl::OkStatus();
}

}  // namespace switchboard::bridge::rabbitmq
