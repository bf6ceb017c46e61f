// The working state of one BroadcasterService::Accept, shared by the files
// of the publishing path: accept_pipeline.cc (the phases up to routing),
// accept_buffer.cc (numbering and buffering) and accept_answer.cc (the
// producer's answer). Private to the broadcaster_service library.
#ifndef SWITCHBOARD_SERVICES_BROADCASTER_ACCEPT_BATCH_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_ACCEPT_BATCH_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/broadcaster/broadcaster_service.h"
#include "switchboard/v1/broadcaster.pb.h"

namespace switchboard::broadcaster {

// Everything one Accept call works on. Units of one producer's event
// (its own copy, a command's scoped copies, the tracker's output) are
// contiguous, so the buffer takes them all or none.
struct BroadcasterService::Batch {
  Batch(switchboard::v1::PublishRequest& r, const Settings& s, absl::Time t)
      : request(r),
        settings(s),
        now(t),
        outcome(r.events_size(), Outcome::kInvalid),
        error(r.events_size()),
        unroutable(r.events_size()) {}

  switchboard::v1::PublishRequest& request;
  const Settings& settings;
  const absl::Time now;
  std::vector<Outcome> outcome;
  // kInvalid: why (INVALID_ARGUMENT, or RESOURCE_EXHAUSTED over the queue
  // cap).
  std::vector<absl::Status> error;
  // kUnroutable: why.
  std::vector<absl::Status> unroutable;
  // The tracker's events and scoped command copies live here.
  std::deque<switchboard::v1::Event> owned;
  std::vector<Unit> units;
  // Held from the batch's first tracker call until its ticket is taken.
  std::optional<absl::MutexLock> tracker_order;
  // CONFIRMED: the batch's first Confirmations token (event i's is
  // confirm_base + i), and how many copies of each event were buffered.
  uint64_t confirm_base = 0;
  std::vector<uint32_t> copies;
  // The producer (null: auth off).
  const Identity* who = nullptr;

  bool regions() const { return settings.config.regions.enabled; }
};

namespace accept_internal {

// The most a sequence number adds to a serialized event (tag + varint).
inline constexpr size_t kMaxSequenceBytes = 11;

// Why an event of `size` serialized bytes is refused.
std::string TooBig(size_t size, const BroadcasterConfig& config);

// Adds the rejection of event `index` to `response`; its reason is
// `reason` prefixed with "events[<index>]: ".
void AddRejection(switchboard::v1::PublishResponse& response, int index,
                  absl::StatusCode code, absl::string_view reason);

// The answer to a batch refused whole: every event rejected for `reason`.
switchboard::v1::PublishResponse RefuseBatch(
    const switchboard::v1::PublishRequest& request, const std::string& reason);

}  // namespace accept_internal
}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_ACCEPT_BATCH_H_
