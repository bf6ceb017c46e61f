#ifndef SWITCHBOARD_SERVICES_BROADCASTER_EVENT_BUFFER_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_EVENT_BUFFER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "services/broadcaster/confirmations.h"
#include "services/broadcaster/disk_log.h"
#include "switchboard/v1/bridge.pb.h"

namespace switchboard::broadcaster {

// What happens to an event that arrives when the buffer is full.
enum class OverflowPolicy {
  // The producer is told (RESOURCE_EXHAUSTED for that event and the rest of
  // its batch) and may retry; nothing accepted is ever dropped.
  kReject,
  // The event is accepted and the oldest events not yet handed to the
  // bridge are dropped to make room, and counted: for producers that want
  // the newest data over completeness.
  kDropOldest,
};

absl::StatusOr<OverflowPolicy> ParseOverflowPolicy(const std::string& text);

// The bounded queue between publishing producers and the bridge forwarder:
// producers never wait on the bridge, and memory stays bounded. An event
// counts against the limits from Push until the bridge confirms it
// (Release), including while it is in flight to the bridge.
//
// Each event may carry a Confirmations token (0: none). Tokens travel with
// their events through Take and Return (in a Ref), and are settled by
// Release (the bridge confirmed), Discard and drop-oldest overflow (lost).
//
// With a DiskLog (buffer.type disk) the waiting events live in the log, not
// in memory: Push appends (and fsyncs as the policy says) before it
// returns, Take reads them back, and Release, Discard and drops settle
// them, so a restart, kill -9 included, forwards again exactly what was
// not settled. Only the events taken and returned stay in memory.
//
// Thread-safe. Push takes the lock once per batch.
class EventBuffer {
 public:
  struct Limits {
    uint64_t max_events = 1'000'000;
    uint64_t max_bytes = uint64_t{256} << 20;
    OverflowPolicy overflow = OverflowPolicy::kReject;
  };

  struct Stats {
    uint64_t events = 0;  // buffered or in flight
    uint64_t bytes = 0;
    uint64_t dropped = 0;
    // The disk buffer's last write error, if the latest Push met one.
    std::string disk_error;
    // The limits in force.
    Limits limits;
    // Of `dropped`, those the bridge refused for good (Discard); the rest
    // made room (drop_oldest).
    uint64_t discarded = 0;
  };

  // What travels with a taken event and comes back with it to Release,
  // Return or Discard: its Confirmations token, and its place in the disk
  // log (0 without one).
  struct Ref {
    uint64_t token = 0;
    uint64_t seq = 0;
  };

  // `confirmations` (may be null: no event carries a token) is told of
  // every tokened event confirmed or lost. `disk` (may be null: memory
  // only) holds the waiting events; what it recovered counts from the
  // start.
  explicit EventBuffer(Limits limits, Confirmations* confirmations = nullptr,
                       std::unique_ptr<DiskLog> disk = nullptr);

  // Appends `events` in order; returns how many of them, from the front,
  // were accepted. Under kReject the first event that does not fit and all
  // after it are refused, so that a producer's retry keeps its order.
  // `group_ends` (increasing, the last one events.size()) cuts `events` into
  // groups taken all or none (the copies of one producer event); empty
  // means each event is its own group. The count returned is always a
  // group's end. Accepted events are moved from; refused ones are left as
  // they were. `tokens` is empty (no tokens) or one per event. With a disk
  // log, an event is accepted once written (and synced, by the policy); a
  // write error refuses it and the rest (stats().disk_error says why).
  size_t Push(std::vector<switchboard::v1::RoutedEvent>& events,
              absl::Span<const size_t> group_ends = {},
              absl::Span<const uint64_t> tokens = {});

  // Waits up to `wait` for events, then moves up to `max_events` (at least
  // one if any) of them, totalling at most about `max_bytes`, into `out`.
  // Returns false once Close() was called and nothing is left. Their
  // refs, one per event, are appended to `refs` when it is not null (with
  // a disk log or tokens, the caller must keep them).
  bool Take(size_t max_events, size_t max_bytes, absl::Duration wait,
            std::vector<switchboard::v1::RoutedEvent>* out,
            std::vector<Ref>* refs = nullptr);

  // The bridge confirmed taken events: their room is free again, their
  // tokens (if any) are confirmed, their disk records settled.
  void Release(uint64_t events, uint64_t bytes,
               absl::Span<const Ref> refs = {});
  // Taken events that must be sent again go back to the front, in order,
  // ahead of everything still waiting, with their refs (empty: none).
  void Return(std::vector<switchboard::v1::RoutedEvent> events,
              std::vector<Ref> refs = {});
  // Taken events that will never be sent (the bridge refused them for
  // good): freed, counted as dropped, their tokens lost for `why`.
  void Discard(uint64_t events, uint64_t bytes, absl::Span<const Ref> refs = {},
               const absl::Status& why = absl::OkStatus());

  // Copies with these tokens, taken and released, did not reach one of
  // their queues (the bridge said so): the tokens are lost for `why`.
  void LoseTokens(absl::Span<const uint64_t> tokens, const absl::Status& why);

  // Waits until nothing is buffered or in flight. False on timeout.
  bool WaitEmpty(absl::Duration timeout);
  // Wakes Take callers; Take drains what is left, then returns false.
  void Close();

  Stats stats() const;

  // New limits for events pushed from now on (a reload). Events already
  // held stay even if they exceed the new limits: accepted is kept.
  void SetLimits(Limits limits);

  // Bytes one event costs against max_bytes.
  static uint64_t Cost(const switchboard::v1::RoutedEvent& event);

  // The disk log, null for a memory buffer. Its recovery figures are
  // fixed after construction.
  const DiskLog* disk() const { return disk_.get(); }

 private:
  struct Entry {
    switchboard::v1::RoutedEvent event;
    Ref ref;
  };

  size_t PushCollectingDropped(
      std::vector<switchboard::v1::RoutedEvent>& events,
      absl::Span<const size_t> group_ends, absl::Span<const uint64_t> tokens,
      std::vector<uint64_t>* dropped_tokens);
  // Whether an event waits to be taken.
  bool HasWaiting() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes the oldest waiting event into `out`; false when none (or the
  // disk log cannot be read, which is logged).
  bool PopWaiting(Entry* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Settles the disk records of `refs`.
  void Settle(absl::Span<const Ref> refs) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Confirmations* const confirmations_;
  mutable absl::Mutex mu_;
  Limits limits_ ABSL_GUARDED_BY(mu_);
  uint64_t discarded_ ABSL_GUARDED_BY(mu_) = 0;
  // Memory: every waiting event. Disk: the events taken and returned,
  // ahead of those in the log.
  std::deque<Entry> waiting_ ABSL_GUARDED_BY(mu_);
  const std::unique_ptr<DiskLog> disk_ ABSL_PT_GUARDED_BY(mu_);
  // Disk: the tokens of logged, not yet taken events, by seq.
  absl::flat_hash_map<uint64_t, uint64_t> disk_tokens_ ABSL_GUARDED_BY(mu_);
  std::string disk_error_ ABSL_GUARDED_BY(mu_);
  uint64_t events_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_EVENT_BUFFER_H_
