#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_AMQP_TABLES_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_AMQP_TABLES_H_

#include <amqp.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "services/mq-bridge/transport/transport.h"

namespace switchboard::bridge::rabbitmq {

// rabbitmq-c's view of `s`, which must outlive it.
inline amqp_bytes_t Bytes(absl::string_view s) {
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}

inline std::string ToString(amqp_bytes_t b) {
  return std::string(static_cast<const char*>(b.bytes), b.len);
}

// The queue that events of `queue` move to after too many deliveries, or
// when it overflows with OverflowPolicy::kDeadLetter: "dead.<queue>".
std::string DeadLetterQueue(absl::string_view queue);

// InvalidArgument when one of the message's id, type and source is too
// long for the AMQP property that carries it.
absl::Status CheckProperties(const OutgoingMessage& m);

// The AMQP properties of an event's message: the event's id, type, source
// and time as message_id, type, app_id and timestamp, its schema as the
// content type, and persistent when `durable`. Point into `m`.
amqp_basic_properties_t MessageProperties(const OutgoingMessage& m,
                                          bool durable);

// Deliveries of the message of `envelope` so far, this one included, as
// far as the broker says: quorum queues count them (x-delivery-count),
// classic queues only flag a redelivery (then 2).
uint32_t BrokerDeliveryCount(const amqp_envelope_t& envelope);

// The arguments (x-arguments) of a switchboard queue and of its
// dead-letter queue: its type, its limits (QueueLimits, as RabbitMQ's own
// arguments) and its dead-lettering. The tables point into this object.
class QueueArguments {
 public:
  // `queue_type` is x-queue-type ("classic" or "quorum"); with
  // `max_deliveries` > 0 (or OverflowPolicy::kDeadLetter) a queue that is
  // not a last-value queue dead-letters to DeadLetterQueue(queue).
  QueueArguments(absl::string_view queue, const QueueOptions& options,
                 absl::string_view queue_type, uint32_t max_deliveries);
  QueueArguments(const QueueArguments&) = delete;
  QueueArguments& operator=(const QueueArguments&) = delete;

  // Whether the queue dead-letters: its dead-letter queue is declared
  // first, with dead_letter_table(), so nothing dead-lettered is dropped.
  bool dead_letters() const { return dead_letters_; }
  const std::string& dead_letter_queue() const { return dead_letter_queue_; }

  amqp_table_t table() const;
  // The dead-letter queue's: bounded like its queue, dropping its own
  // head.
  amqp_table_t dead_letter_table() const;

 private:
  void Add(const char* key, amqp_bytes_t value);
  void Add(const char* key, int64_t value);

  const std::string queue_type_;
  const std::string dead_letter_queue_;
  bool dead_letters_ = false;
  amqp_table_entry_t entries_[10];
  int size_ = 0;
  amqp_table_entry_t dead_letter_entries_[5];
  int dead_letter_size_ = 0;
};

}  // namespace switchboard::bridge::rabbitmq

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_RABBITMQ_AMQP_TABLES_H_
