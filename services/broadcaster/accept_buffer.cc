// The buffer phase of the publishing path: a batch's units numbered
// (Sequencer), serialized into one group per producer event, and pushed to
// the buffer in ticket order; the tracker's periodic output (Tick) goes the
// same way.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/broadcaster/accept_batch.h"
#include "services/broadcaster/broadcaster_service.h"
#include "services/common/logging.h"

namespace switchboard::broadcaster {
namespace accept_internal {

std::string TooBig(size_t size, const BroadcasterConfig& config) {
  return absl::StrCat("event is ", size, " bytes serialized; the limit is ",
                      config.max_event_bytes, " (max_event_bytes)");
}

}  // namespace accept_internal
namespace {

using accept_internal::TooBig;
using switchboard::v1::Event;
using switchboard::v1::RoutedEvent;

RoutedEvent ToRouted(const Event& e, std::vector<std::string> queues) {
  RoutedEvent r;
  e.SerializeToString(r.mutable_event());
  r.set_id(e.id());
  r.set_source(e.source());
  r.set_type(e.type());
  r.set_time_unix_nanos(e.time().seconds() * 1'000'000'000 + e.time().nanos());
  for (std::string& q : queues) r.add_queues(std::move(q));
  return r;
}

// The tracker's own events (a switch with very many connections, say) are
// held to the producers' size limit too; one that exceeds it is logged and
// not sent.
bool VirtualEventFits(const RoutedEvent& r, const BroadcasterConfig& config) {
  if (r.event().size() <= config.max_event_bytes) return true;
  Logger("regions")->error("not sending the tracker's {} event {}: {}",
                           r.type(), r.id(), TooBig(r.event().size(), config));
  return false;
}

}  // namespace

// A batch's units as the buffer takes them.
struct BroadcasterService::Grouped {
  std::vector<RoutedEvent> routed;
  // The end (in `routed`) of each producer event's units: the buffer takes
  // an event's copies all or none, so a command refused in part never runs
  // twice when its producer sends it again.
  std::vector<size_t> group_ends;
  std::vector<int> group_owner;
  // CONFIRMED: each copy carries its producer event's token.
  std::vector<uint64_t> tokens;
  // Producers' command copies for region queues: their place in `routed`
  // and the region (metrics).
  std::vector<std::pair<size_t, std::string>> command_copies;
};

uint64_t BroadcasterService::Number(std::vector<Unit>& units) {
  std::vector<Event*> own;
  own.reserve(units.size());
  bool copies = false;
  for (Unit& u : units) {
    if (u.parent != nullptr) {
      copies = true;
      continue;
    }
    if (u.event->id().empty()) u.event->set_id(NewEventId());
    own.push_back(u.event);
  }
  if (copies) {
    // A command with scoped copies only (no queue of its own) is numbered
    // too, for its copies to share.
    absl::flat_hash_set<const Event*> listed(own.begin(), own.end());
    for (Unit& u : units) {
      if (u.parent != nullptr && listed.insert(u.parent).second) {
        own.push_back(u.parent);
      }
    }
  }
  const uint64_t ticket = sequencer_.Assign(own);
  for (Unit& u : units) {
    if (u.parent == nullptr) continue;
    u.event->set_id(u.parent->id());
    u.event->set_sequence(u.parent->sequence());
  }
  return ticket;
}

BroadcasterService::Grouped BroadcasterService::Group(Batch& batch) {
  const BroadcasterConfig& config = batch.settings.config;
  const int n = batch.request.events_size();
  Grouped g;
  g.routed.reserve(batch.units.size());
  for (Unit& u : batch.units) {
    RoutedEvent r = ToRouted(*u.event, std::move(u.queues));
    // The size limit is checked on the bytes themselves (assigned fields
    // included): one serialization per event, no separate size pass.
    const bool own =
        u.owner >= 0 && u.event == batch.request.mutable_events(u.owner);
    if (own && r.event().size() > config.max_event_bytes) {
      batch.error[u.owner] =
          absl::InvalidArgumentError(TooBig(r.event().size(), config));
      batch.outcome[u.owner] = Outcome::kInvalid;
      continue;
    }
    if (u.parent == nullptr && !own && !VirtualEventFits(r, config)) continue;
    if (!g.group_owner.empty() && g.group_owner.back() == u.owner &&
        u.owner >= 0) {
      g.group_ends.back() = g.routed.size() + 1;
    } else {
      g.group_owner.push_back(u.owner);
      g.group_ends.push_back(g.routed.size() + 1);
    }
    if (batch.confirm_base != 0) {
      g.tokens.push_back(
          u.owner >= 0 && u.owner < n ? batch.confirm_base + u.owner : 0);
    }
    if (batch.regions() && u.owner >= 0 && u.event->has_command()) {
      for (const std::string& queue : r.queues()) {
        if (absl::StartsWith(queue, config.regions.queue_prefix)) {
          g.command_copies.push_back(
              {g.routed.size(),
               queue.substr(config.regions.queue_prefix.size())});
        }
      }
    }
    g.routed.push_back(std::move(r));
  }
  return g;
}

void BroadcasterService::Buffer(Batch& batch) {
  const uint64_t ticket = Number(batch.units);
  batch.tracker_order.reset();
  Grouped g = Group(batch);
  const int n = batch.request.events_size();
  // An event found too big after its tracker output was grouped: its
  // group's other units still go (they are the tracker's, not its copies).
  // (PushInOrder moves the events out of `routed`.)
  const size_t pushed = PushInOrder(ticket, g.routed, g.group_ends, g.tokens);
  if (!g.command_copies.empty()) CountRegionCommands(g.command_copies, pushed);
  if (batch.confirm_base != 0) {
    batch.copies.assign(n, 0);
    for (size_t c = 0; c < pushed; ++c) {
      if (g.tokens[c] != 0) ++batch.copies[g.tokens[c] - batch.confirm_base];
    }
  }
  for (size_t i = 0; i < g.group_ends.size(); ++i) {
    const int owner = g.group_owner[i];
    if (owner < 0 || owner >= n || g.group_ends[i] <= pushed) continue;
    Outcome& o = batch.outcome[owner];
    if (o == Outcome::kRouted || o == Outcome::kFiltered ||
        o == Outcome::kAbsorbed || o == Outcome::kUnroutable) {
      o = Outcome::kRefusedFull;
    }
  }
}

size_t BroadcasterService::PushInOrder(uint64_t ticket,
                                       std::vector<RoutedEvent>& routed,
                                       absl::Span<const size_t> group_ends,
                                       absl::Span<const uint64_t> tokens) {
  return sequencer_.InTurn(
      ticket, [&] { return buffer_.Push(routed, group_ends, tokens); });
}

// Per region, the producers' command copies that went into the buffer for
// its queue (metrics): `copies` are (place in the batch's routed events,
// region), the first `pushed` of which were buffered.
void BroadcasterService::CountRegionCommands(
    const std::vector<std::pair<size_t, std::string>>& copies, size_t pushed) {
  std::map<std::string, uint64_t> by_region;
  for (const auto& [place, region] : copies) {
    if (place < pushed) ++by_region[region];
  }
  if (!by_region.empty()) region_commands_.Add(by_region);
}

void BroadcasterService::Tick() {
  absl::ReaderMutexLock settings_lock(&settings_mu_);
  if (!settings_->config.regions.enabled) return;
  std::deque<Event> owned;
  std::vector<Unit> units;
  uint64_t ticket;
  {
    absl::MutexLock order(&tracker_order_mu_);
    RegionTracker::Output out = tracker_.Tick(absl::Now());
    if (out.switch_events.empty() && out.requests.empty()) return;
    AddTrackerOutput(out, settings_->router, -1, owned, units);
    ticket = Number(units);
  }
  std::vector<RoutedEvent> routed;
  for (Unit& u : units) {
    RoutedEvent r = ToRouted(*u.event, std::move(u.queues));
    if (VirtualEventFits(r, settings_->config)) routed.push_back(std::move(r));
  }
  const size_t pushed = PushInOrder(ticket, routed, {});
  if (pushed < routed.size()) {
    Logger("regions")->warn(
        "buffer full: {} of {} region requests and switch events lost",
        routed.size() - pushed, routed.size());
  }
}

}  // namespace switchboard::broadcaster
