#ifndef SWITCHBOARD_SERVICES_BROADCASTER_FORWARDER_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_FORWARDER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "prometheus/histogram.h"
#include "services/broadcaster/event_buffer.h"
#include "services/common/client_channel.h"
#include "switchboard/v1/bridge.pb.h"

namespace switchboard::broadcaster {

// Moves events from the buffer to the bridge over one long-lived Produce
// stream, in batches, with up to `max_inflight_batches` unanswered at once
// (never one round trip per event). An event leaves the buffer only once
// the bridge confirmed it. When the stream breaks, unconfirmed batches go
// back to the front of the buffer and the forwarder reconnects with
// exponential backoff; each new stream declares its queues again.
class Forwarder {
 public:
  struct Options {
    std::string bridge_address = "127.0.0.1:50053";
    // `bridge.tls` (plaintext unless its ca_file is set) and the token of
    // `bridge.token_file`.
    ClientCredentials bridge_credentials;
    uint32_t batch_max_events = 1000;
    uint32_t batch_max_bytes = 1 << 20;
    uint32_t max_inflight_batches = 8;
    absl::Duration backoff_initial = absl::Milliseconds(100);
    absl::Duration backoff_max = absl::Seconds(5);
    // Declared on every new stream, before any event, so subscribers can
    // attach to them early (e.g. the verbose queue).
    std::vector<std::string> static_queues;
    // How the bridge must declare a queue (last-value...). Default: plain.
    std::function<switchboard::v1::QueueSpec(const std::string& queue)>
        queue_spec;
  };

  struct Stats {
    uint64_t forwarded = 0;
    uint64_t connects = 0;
    bool connected = false;
    // Event copies a queue refused for good (ProduceResponse.refused).
    uint64_t refused = 0;
    // Batches the bridge took.
    uint64_t batches = 0;
  };

  Forwarder(Options options, EventBuffer* buffer);
  ~Forwarder();

  void Start();
  // Replaces the options: the current stream stops taking events, waits
  // (up to 10 s) for the bridge to answer what it has in flight (anything
  // unanswered then goes back to the buffer, to be sent again), closes,
  // and a new stream opens with `options` (on a new channel if the address
  // changed). Returns once the new options are in force, or after 15 s
  // with a warning.
  void Reconfigure(Options options);
  // Waits up to `flush_timeout` for the buffer to drain to the bridge, then
  // stops. What is left is logged as lost.
  void Stop(absl::Duration flush_timeout);

  Stats stats() const;
  // Seconds from a batch's write to the bridge's answer, every batch
  // answered (taken, refused or failed).
  const prometheus::Histogram& answer_latency() const {
    return answer_latency_;
  }

 private:
  class Connection;

  void Run();
  // Sleeps, or returns early when stopping (false) or reconfiguring.
  bool Backoff(absl::Duration* delay);
  bool reconfiguring() const;
  // The options the next stream uses; applies Reconfigure's if any.
  Options TakeOptions();

  // Counts a confirmed batch's refusals and logs them, at most every 5 s.
  // They are final (a full reject-publish queue, an event the transport
  // cannot carry): the rest of the batch is stored, nothing is resent.
  // The refused copies' tokens in `refs` (one per event of `batch`) are
  // lost, and zeroed there.
  void NoteRefusals(const switchboard::v1::ProduceRequest& batch,
                    const switchboard::v1::ProduceResponse& answer,
                    std::vector<EventBuffer::Ref>* refs);

  EventBuffer* const buffer_;
  std::thread thread_;
  absl::Notification stopping_;

  mutable absl::Mutex options_mu_;
  Options options_ ABSL_GUARDED_BY(options_mu_);
  std::optional<Options> pending_ ABSL_GUARDED_BY(options_mu_);
  uint64_t requested_ ABSL_GUARDED_BY(options_mu_) = 0;
  uint64_t applied_ ABSL_GUARDED_BY(options_mu_) = 0;
  bool stopping_flag_ ABSL_GUARDED_BY(options_mu_) = false;

  std::atomic<uint64_t> forwarded_{0};
  std::atomic<uint64_t> connects_{0};
  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> batches_{0};
  prometheus::Histogram answer_latency_;

  absl::Mutex refusal_log_mu_;
  absl::Time last_refusal_log_ ABSL_GUARDED_BY(refusal_log_mu_) =
      absl::InfinitePast();
  uint64_t unlogged_refusals_ ABSL_GUARDED_BY(refusal_log_mu_) = 0;
};

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_FORWARDER_H_
