#ifndef SWITCHBOARD_TESTS_TESTING_RESILIENT_CLIENTS_H_
#define SWITCHBOARD_TESTS_TESTING_RESILIENT_CLIENTS_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "switchboard/v1/broadcaster.grpc.pb.h"
#include "switchboard/v1/consumer.grpc.pb.h"
#include "tests/testing/delivery_ledger.h"

namespace switchboard::testing {

// A producer that behaves as the README asks of one under faults: every
// event has its own id ("<id_prefix><n>"); when its Publish stream breaks,
// or a batch goes unanswered for `answer_timeout`, it reconnects with
// backoff and sends every unanswered batch again with the same ids.
// Rejected events are sent again (same ids) in a later batch. An event is
// recorded in the ledger as accepted once an answer accepted it.
class ResendingProducer {
 public:
  struct Options {
    std::string address;
    std::string source;
    std::string id_prefix;
    switchboard::v1::Acceptance acceptance = switchboard::v1::CONFIRMED;
    int batch_events = 50;
    double events_per_second = 1000;
    size_t max_unanswered_batches = 8;
    absl::Duration answer_timeout = absl::Seconds(5);
    absl::Duration backoff_initial = absl::Milliseconds(50);
    absl::Duration backoff_max = absl::Seconds(1);
  };
  ResendingProducer(Options options, DeliveryLedger* ledger);
  ~ResendingProducer();

  // No new events from now on; unanswered batches are still sent again.
  void StopProducing();
  // Waits (bounded) until every batch was answered and nothing waits to
  // be sent again.
  bool AwaitAllAnswered(absl::Duration timeout);
  // "p0: events=N batches=N answered=N resent=N reconnects=N
  // rejections={code:count}", for logs and failure messages.
  std::string Summary();

 private:
  struct Batch {
    uint64_t id = 0;
    switchboard::v1::PublishRequest request;
    absl::Time written_at;  // on the current stream
  };
  void Run();
  // One Publish stream, until it breaks, a batch goes unanswered too long,
  // or everything is answered after StopProducing.
  void RunStream();
  void OnAnswer(const switchboard::v1::PublishResponse& answer)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Idle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  DeliveryLedger* const ledger_;
  absl::Mutex mu_;
  bool producing_ ABSL_GUARDED_BY(mu_) = true;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::deque<Batch> unanswered_ ABSL_GUARDED_BY(mu_);
  // Unanswered batches already written on the current stream.
  size_t written_ ABSL_GUARDED_BY(mu_) = 0;
  bool stream_done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_answer_at_ ABSL_GUARDED_BY(mu_);
  std::vector<switchboard::v1::Event> retry_ ABSL_GUARDED_BY(mu_);
  uint64_t next_event_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_batch_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t answered_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t resent_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t streams_ ABSL_GUARDED_BY(mu_) = 0;
  bool answered_since_connect_ ABSL_GUARDED_BY(mu_) = false;
  std::map<int, uint64_t> rejections_ ABSL_GUARDED_BY(mu_);
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// An app on the consumer's Subscribe that acks everything it gets and
// records each event id in the ledger; when its stream ends (or cannot
// open: the queues do not exist yet, the consumer is down) it subscribes
// again with backoff, naming in SubscribeOpen.acked the events it
// processed lately (the last 2 x credit), as the README asks of an app
// that wants each event once across consumer crashes.
class ResubscribingApp {
 public:
  struct Options {
    std::string address;
    std::vector<std::string> queues;
    uint32_t credit = 500;
    // Resend what it processed in each open (SubscribeOpen.acked).
    bool resend_acked = true;
    absl::Duration backoff_initial = absl::Milliseconds(50);
    absl::Duration backoff_max = absl::Seconds(1);
  };
  ResubscribingApp(Options options, DeliveryLedger* ledger);
  ~ResubscribingApp();
  // "app: deliveries=N streams=N ends={code:count} last_end=...".
  std::string Summary();

 private:
  void Run();

  const Options options_;
  DeliveryLedger* const ledger_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  uint64_t deliveries_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t streams_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_end_ ABSL_GUARDED_BY(mu_);
  // How the app's streams ended, by status code.
  std::map<int, uint64_t> ends_ ABSL_GUARDED_BY(mu_);
  // (queue, id) of the last 2 x credit events processed; the run thread's.
  std::deque<std::pair<std::string, std::string>> processed_;
  std::thread thread_;
};

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_RESILIENT_CLIENTS_H_
