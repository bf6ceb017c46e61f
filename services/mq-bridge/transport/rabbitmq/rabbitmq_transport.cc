#include "services/mq-bridge/transport/rabbitmq/rabbitmq_transport.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/common/event_fd.h"
#include "services/common/logging.h"
#include "services/common/queue_name.h"
#include "services/common/status_macros.h"
#include "services/mq-bridge/transport/rabbitmq/amqp_tables.h"
#include "services/mq-bridge/transport/rabbitmq/publisher.h"
#include "services/mq-bridge/transport/rabbitmq/rabbitmq_subscription.h"
#include "services/mq-bridge/transport/rabbitmq/shared_state.h"
#include "services/mq-bridge/transport/registry.h"

namespace switchboard::bridge::rabbitmq {
namespace {

std::shared_ptr<spdlog::logger> Log() { return Logger("bridge.rabbitmq"); }

// The "rabbitmq" driver (rabbitmq_transport.h): callers' threads queue
// commands for its Publisher and wait for the replies; each subscription
// runs on its own.
class RabbitMqTransport final : public Transport {
 public:
  static absl::StatusOr<std::unique_ptr<RabbitMqTransport>> Connect(
      Settings settings);
  ~RabbitMqTransport() override;

  absl::string_view driver() const override { return "rabbitmq"; }
  Capabilities capabilities() const override;
  absl::Status DeclareQueue(absl::string_view name,
                            const QueueOptions& options) override;
  void Publish(std::vector<OutgoingMessage> batch,
               PublishCallback done) override;
  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(
      const SubscribeOptions& options, DeliveryHandler handler) override;
  absl::StatusOr<std::vector<QueueStats>> GetQueueStats(
      absl::Span<const std::string> queues) override;

  // The node the publisher is connected to, or was last connected to while
  // it reconnects: "amqp://user@host:port/vhost".
  std::string connected_to() const override;

 private:
  RabbitMqTransport(Settings settings, EventFd wake_publisher);

  // Runs `command` on the publisher thread and waits, at most
  // command_timeout, for its `reply` (DeadlineExceeded then).
  absl::Status RunOnPublisher(Command command, Reply& reply);

  const Settings settings_;
  SharedState shared_;
  Publisher publisher_;
};

// Messages no AMQP property can carry are refused on their own, and the
// rest is published; refusals name the caller's message indices. Leaves
// in `batch` the messages to publish, and makes `done` add the refusals.
void RefuseUncarriable(std::vector<OutgoingMessage>* batch,
                       PublishCallback* done) {
  std::vector<Refusal> invalid;
  std::vector<size_t> index;
  for (size_t i = 0; i < batch->size(); ++i) {
    absl::Status s = CheckProperties((*batch)[i]);
    if (s.ok()) continue;
    for (const std::string& q : (*batch)[i].queues) {
      invalid.push_back(Refusal{i, q, s});
    }
    (*batch)[i].queues.clear();
  }
  if (invalid.empty()) return;
  std::vector<OutgoingMessage> kept;
  for (size_t i = 0; i < batch->size(); ++i) {
    if ((*batch)[i].queues.empty()) continue;
    index.push_back(i);
    kept.push_back(std::move((*batch)[i]));
  }
  *batch = std::move(kept);
  *done = [done = std::move(*done), invalid = std::move(invalid),
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

RabbitMqTransport::RabbitMqTransport(Settings settings, EventFd wake_publisher)
    : settings_(std::move(settings)),
      shared_(std::move(wake_publisher)),
      publisher_(settings_, &shared_) {}

absl::StatusOr<std::unique_ptr<RabbitMqTransport>> RabbitMqTransport::Connect(
    Settings settings) {
  SB_ASSIGN_OR_RETURN(EventFd wake, EventFd::Create());
  auto transport = std::unique_ptr<RabbitMqTransport>(
      new RabbitMqTransport(settings, std::move(wake)));
  SB_RETURN_IF_ERROR(transport->publisher_.Start());
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

RabbitMqTransport::~RabbitMqTransport() { publisher_.Stop(); }

std::string RabbitMqTransport::connected_to() const {
  absl::MutexLock lock(&shared_.mu);
  return shared_.connected_to;
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

absl::Status RabbitMqTransport::RunOnPublisher(Command command, Reply& reply) {
  {
    absl::MutexLock lock(&shared_.mu);
    if (shared_.stopping) {
      return absl::UnavailableError("the transport is stopping");
    }
    shared_.commands.push_back(std::move(command));
  }
  shared_.wake.Signal();
  // Callers are gRPC threads: never wait without bound for a broker that
  // is away (the publisher thread retries its connection meanwhile).
  if (!reply.finished.WaitForNotificationWithTimeout(
          settings_.command_timeout)) {
    return absl::DeadlineExceededError(absl::StrCat(
        "the broker at ", connected_to(), " did not answer within ",
        absl::FormatDuration(settings_.command_timeout),
        " (transport.rabbitmq.command_timeout); is it reachable?"));
  }
  return reply.result;
}

absl::Status RabbitMqTransport::DeclareQueue(absl::string_view name,
                                             const QueueOptions& options) {
  SB_RETURN_IF_ERROR(ValidateQueueName(name));
  {
    absl::MutexLock lock(&shared_.mu);
    auto it = shared_.declared.find(name);
    if (it != shared_.declared.end()) {
      if (it->second == options) return absl::OkStatus();
      return absl::FailedPreconditionError(absl::StrCat(
          "queue '", name,
          "' exists with last_value=", it->second.last_value ? "true" : "false",
          "; it cannot be redeclared with other options"));
    }
  }
  auto reply = std::make_shared<Reply>();
  return RunOnPublisher(DeclareCommand{std::string(name), options, reply},
                        *reply);
}

void RabbitMqTransport::Publish(std::vector<OutgoingMessage> batch,
                                PublishCallback done) {
  RefuseUncarriable(&batch, &done);
  size_t messages = 0;
  for (const OutgoingMessage& m : batch) messages += m.queues.size();
  if (messages == 0) {
    // Nothing for the broker to confirm, ever.
    done(absl::OkStatus());
    return;
  }
  absl::Status refused;
  {
    absl::MutexLock lock(&shared_.mu);
    // AMQP drops messages for unbound routing keys silently; the contract
    // wants NotFound and nothing published.
    for (const OutgoingMessage& m : batch) {
      for (const std::string& q : m.queues) {
        if (refused.ok() && !shared_.declared.contains(q)) {
          refused = absl::NotFoundError(
              absl::StrCat("queue '", q, "' is not declared"));
        }
      }
    }
    if (refused.ok() && shared_.stopping) {
      refused = absl::UnavailableError("the transport is stopping");
    }
    if (refused.ok()) {
      PublishCommand command;
      command.batch.messages = std::move(batch);
      command.batch.done = std::move(done);
      shared_.commands.push_back(std::move(command));
    }
  }
  if (!refused.ok()) {
    done(refused);
    return;
  }
  shared_.wake.Signal();
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
  SB_ASSIGN_OR_RETURN(std::unique_ptr<RabbitMqSubscription> subscription,
                      RabbitMqSubscription::Start(settings_, &shared_, options,
                                                  std::move(handler)));
  return std::unique_ptr<Subscription>(std::move(subscription));
}

absl::StatusOr<std::vector<QueueStats>> RabbitMqTransport::GetQueueStats(
    absl::Span<const std::string> queues) {
  auto reply = std::make_shared<Reply>();
  StatsCommand command;
  command.names.assign(queues.begin(), queues.end());
  command.reply = reply;
  SB_RETURN_IF_ERROR(RunOnPublisher(std::move(command), *reply));
  std::vector<QueueStats> stats = std::move(reply->stats);
  absl::MutexLock lock(&shared_.mu);
  for (QueueStats& s : stats) {
    // AMQP reports ready messages only; unacked ones are counted by the
    // subscriptions of this bridge.
    for (RabbitMqSubscription* sub : shared_.subscriptions) {
      s.unacked += sub->UnackedIn(s.name);
    }
  }
  std::sort(
      stats.begin(), stats.end(),
      [](const QueueStats& a, const QueueStats& b) { return a.name < b.name; });
  return stats;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Transport>> Connect(Settings settings) {
  SB_ASSIGN_OR_RETURN(auto transport,
                      RabbitMqTransport::Connect(std::move(settings)));
  return std::unique_ptr<Transport>(std::move(transport));
}

absl::StatusOr<std::unique_ptr<Transport>> Create(const ConfigNode& config) {
  SB_ASSIGN_OR_RETURN(Settings settings, ParseSettings(config));
  return Connect(std::move(settings));
}

SB_REGISTER_TRANSPORT("rabbitmq", Create, ParseSettings);

}  // namespace switchboard::bridge::rabbitmq
