#ifndef SWITCHBOARD_SERVICES_BROADCASTER_BROADCASTER_SERVICE_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_BROADCASTER_SERVICE_H_

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "services/broadcaster/broadcaster_config.h"
#include "services/broadcaster/broadcaster_metrics.h"
#include "services/broadcaster/broadcaster_rpc_service.h"
#include "services/broadcaster/confirmations.h"
#include "services/broadcaster/event_buffer.h"
#include "services/broadcaster/event_id.h"
#include "services/broadcaster/forwarder.h"
#include "services/broadcaster/publish_handler.h"
#include "services/broadcaster/queue_budget.h"
#include "services/broadcaster/region_tracker.h"
#include "services/broadcaster/regions_service.h"
#include "services/broadcaster/router.h"
#include "services/broadcaster/sequencer.h"
#include "services/broadcaster/stats_handler.h"
#include "services/common/auth_policy.h"
#include "services/common/config.h"
#include "services/common/listen_settings.h"
#include "services/common/server.h"
#include "switchboard/v1/broadcaster.pb.h"

namespace switchboard::broadcaster {

// The broadcaster service's lifecycle. Thread-safe.
//
// This class owns the broadcaster's parts and wires them: its settings
// (broadcaster_config.h), the buffer, the forwarder to the bridge, the
// region tracker and its ticker, reload, and metrics. Each RPC of
// switchboard.v1.Broadcaster is a handler class of its own
// (publish_handler.h, stats_handler.h), served through
// BroadcasterRpcService; switchboard.v1.Regions is RegionsService. The
// publishing path the Publish handler feeds is Accept (accept_pipeline.cc).
//
// Settings are one immutable snapshot (config + routing table). A batch of
// events is handled under one snapshot from validation to the buffer, and a
// reload swaps the snapshot between two batches, so every event is routed
// wholly by the old or wholly by the new settings, and per source the
// switch happens at one point of its stream.
class BroadcasterService final : public ServiceBase {
 public:
  static absl::StatusOr<std::unique_ptr<BroadcasterService>> Create(
      const ConfigNode& config, const std::string& listen_override);
  // Create's validation without opening the disk buffer.
  static absl::Status CheckConfig(const ConfigNode& config,
                                  const std::string& listen_override);

  // `disk` is the opened disk buffer when config.disk_buffer is set
  // (Create opens it); null for a memory buffer.
  explicit BroadcasterService(BroadcasterConfig config,
                              std::string listen_override = "",
                              std::unique_ptr<DiskLog> disk = nullptr);
  ~BroadcasterService() override;

  std::string listen_address() const override {
    return listen_.primary_address();
  }
  absl::StatusOr<ListenSettings> listen_settings() const override {
    return listen_;
  }
  std::vector<grpc::Service*> grpc_services() override {
    return {&rpcs_, &regions_service_};
  }
  void SetAuthPolicy(std::shared_ptr<AuthPolicy> auth) override;
  absl::Status Start() override;
  void Drain() override;
  void Stop() override;
  // Swaps in the settings of `config`, then closes the bridge stream and
  // opens a new one with them. `listen` cannot change without a restart.
  absl::Status Reload(const ConfigNode& config) override;

  // Handles one batch: validation, defaults, routing, buffering; answers
  // at once (acceptance BUFFERED).
  switchboard::v1::PublishResponse Accept(
      switchboard::v1::PublishRequest& request);
  // The same, at acceptance `level` (BUFFERED or CONFIRMED): `answer` runs
  // exactly once, before this returns (BUFFERED, or nothing to wait for)
  // or on the thread that settles the last copy. It never runs if the
  // broadcaster stops first (the producer's stream ends with UNAVAILABLE).
  // `who` (null: auth off) is the producer: each event it may not publish
  // is rejected with PERMISSION_DENIED, and the rest go on.
  using AnswerFn = PublishHandler::AnswerFn;
  void Accept(switchboard::v1::PublishRequest& request,
              switchboard::v1::Acceptance level, AnswerFn answer,
              const Identity* who);

  switchboard::v1::BroadcasterStats Stats() const;

  std::vector<std::shared_ptr<prometheus::Collectable>> metrics_collectables(
      const MetricsSettings& settings) override;

  // The switch connection tracker (regions), for in-process tests.
  RegionTracker& tracker() { return tracker_; }
  // Runs the tracker's periodic work now (the ticker thread does it every
  // alive_interval / 4).
  void Tick();

 private:
  friend class BroadcasterMetrics;

  // One event to buffer, with its queues: a producer's event, a scoped
  // copy of a command, or an event of the tracker.
  struct Unit {
    switchboard::v1::Event* event;
    std::vector<std::string> queues;
    // Index of the producer's event it comes from; -1 for the ticker's.
    int owner;
    // A scoped copy shares its command's id and sequence.
    switchboard::v1::Event* parent = nullptr;
  };

  // What became of one event of a batch.
  enum class Outcome {
    // Refused: INVALID_ARGUMENT naming the field, or RESOURCE_EXHAUSTED
    // when it would create one queue too many.
    kInvalid,
    // Refused: the buffer is full (overflow reject); none of its copies
    // was buffered.
    kRefusedFull,
    // Accepted and buffered for its queues.
    kRouted,
    // Accepted; the filters left it no queue.
    kFiltered,
    // Accepted; the region tracker absorbed it (or dropped it: not the
    // switch's active region).
    kAbsorbed,
    // A command no region can take: kept in the unroutable queue, and an
    // error for its publisher.
    kUnroutable,
  };
  // The working state of one Accept (accept_batch.h).
  struct Batch;
  // A batch's units serialized for the buffer (accept_buffer.cc).
  struct Grouped;

  struct Settings {
    explicit Settings(BroadcasterConfig c)
        : config(std::move(c)), router(config.routing) {}
    const BroadcasterConfig config;
    const Router router;
  };

  static Forwarder::Options ForwarderOptions(
      std::shared_ptr<const Settings> settings);

  // The phases of Accept, in order; each sets the event's Outcome when it
  // ends the event's way (accept_pipeline.cc).
  // Authorization, validation, stamping, tracking and routing of the
  // producer's event `i`, which become units of the batch.
  void RunEventPhases(int i, switchboard::v1::Event* e, Batch& batch);
  // The event's fields, and its base queues (see Router::Route).
  absl::StatusOr<std::vector<std::string>> Validate(switchboard::v1::Event* e,
                                                    Batch& batch);
  // The app, link and region queues the event would create must fit
  // routing.max_dynamic_queues.
  absl::Status AdmitQueues(const switchboard::v1::Event& e,
                           const std::vector<std::string>& queues,
                           Batch& batch);
  // Fills in the id and time a producer left unset.
  static void Stamp(switchboard::v1::Event* e, absl::Time now);
  // A region's event goes to the tracker; false when absorbed.
  bool Track(int i, switchboard::v1::Event* e, Batch& batch);
  // Adds a command's region queues (or scoped copies) to `queues` and the
  // event's units to the batch.
  void Route(int i, switchboard::v1::Event* e, std::vector<std::string> queues,
             Batch& batch);
  // Takes tracker_order_mu_ for the rest of the batch's tracking.
  void HoldTrackerOrder(Batch& batch);
  // PERMISSION_DENIED when the producer may not reach one of the regions
  // a command is routed to.
  absl::Status AuthorizeRoute(const RegionTracker::CommandRoute& route,
                              const Batch& batch);
  // Adds the tracker's virtual switch events (routed like any event) and
  // region requests (to their region queue only) to `units`.
  void AddTrackerOutput(RegionTracker::Output& out, const Router& router,
                        int owner, std::deque<switchboard::v1::Event>& owned,
                        std::vector<Unit>& units);

  // Buffering (accept_buffer.cc).
  // Numbers, serializes and buffers the batch's units.
  void Buffer(Batch& batch);
  // Gives the units' events ids and sequences (scoped copies those of
  // their command); returns the batch's ticket (Sequencer::Assign).
  uint64_t Number(std::vector<Unit>& units);
  // Serializes the units, each producer event's into one group; drops
  // (and marks kInvalid) a producer's event over max_event_bytes.
  static Grouped Group(Batch& batch);
  // Pushes `routed` once every batch with an earlier ticket was pushed,
  // each group (ending at `group_ends`, see EventBuffer::Push) all or none.
  // Every ticket must be pushed (possibly empty), or later ones wait.
  // `tokens`: empty, or one Confirmations token per event.
  size_t PushInOrder(uint64_t ticket,
                     std::vector<switchboard::v1::RoutedEvent>& routed,
                     absl::Span<const size_t> group_ends,
                     absl::Span<const uint64_t> tokens = {});
  void CountRegionCommands(
      const std::vector<std::pair<size_t, std::string>>& copies, size_t pushed);

  // Answering (accept_answer.cc).
  // The producer's answer, and the counters.
  switchboard::v1::PublishResponse Answer(Batch& batch);
  // A CONFIRMED batch's answer once its copies are settled: events with a
  // lost copy become rejections.
  void ApplyConfirmations(const std::vector<absl::Status>& outcomes,
                          switchboard::v1::PublishResponse& response);

  void TickLoop();
  void StopTicker();
  // Logs, at most every few seconds, events lost to a full buffer.
  void ReportLosses(const EventBuffer::Stats& stats);

  const ListenSettings listen_;
  std::string listen_override_;

  // Held shared by every batch, exclusively by a reload's swap.
  mutable absl::Mutex settings_mu_;
  std::shared_ptr<const Settings> settings_ ABSL_GUARDED_BY(settings_mu_);
  std::atomic<uint64_t> generation_{0};

  // Before buffer_, which settles its tokens.
  Confirmations confirmations_;
  EventBuffer buffer_;
  // Caps the queues producer input creates; limits from the settings.
  QueueBudget queue_budget_;
  Forwarder forwarder_;
  RegionTracker tracker_;
  // Made by metrics_collectables (with metrics.listen set).
  std::shared_ptr<BroadcasterMetrics> metrics_;
  RegionCommandCounts region_commands_;
  RegionsService regions_service_;
  // Set before the server starts; null: auth not configured.
  std::shared_ptr<AuthPolicy> auth_;

  absl::Mutex ticker_mu_;
  bool ticker_stopping_ ABSL_GUARDED_BY(ticker_mu_) = false;
  std::thread ticker_;

  // Sequence numbers, and the order batches reach the buffer in.
  Sequencer sequencer_;
  // Held from a batch's (or tick's) first tracker call until its ticket is
  // taken, so the tracker's events reach the buffer in the order the
  // tracker made them (one region's disconnect before another's connect).
  absl::Mutex tracker_order_mu_;

  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> rejected_invalid_{0};
  std::atomic<uint64_t> rejected_full_{0};
  std::atomic<uint64_t> rejected_queue_cap_{0};
  std::atomic<uint64_t> filtered_{0};
  std::atomic<uint64_t> link_events_{0};
  std::atomic<uint64_t> region_events_dropped_{0};
  std::atomic<uint64_t> switch_events_absorbed_{0};
  std::atomic<uint64_t> commands_routed_{0};
  std::atomic<uint64_t> commands_unroutable_{0};
  std::atomic<uint64_t> switch_events_emitted_{0};
  std::atomic<uint64_t> region_requests_{0};
  std::atomic<uint64_t> confirmed_{0};
  std::atomic<uint64_t> confirm_failed_{0};

  absl::Mutex report_mu_;
  absl::Time last_report_ ABSL_GUARDED_BY(report_mu_) = absl::InfinitePast();
  uint64_t reported_dropped_ ABSL_GUARDED_BY(report_mu_) = 0;
  uint64_t reported_rejected_ ABSL_GUARDED_BY(report_mu_) = 0;

  // One handler per RPC, and the gRPC service routing to them. Last: made
  // once the parts they use exist, and gone before them.
  PublishHandler publish_;
  StatsHandler stats_;
  BroadcasterRpcService rpcs_;
};

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_BROADCASTER_SERVICE_H_
