#include "services/consumer/link_view_core.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/common/link_event.h"
#include "services/common/logging.h"

namespace switchboard::consumer {
namespace {

using switchboard::v1::ConsumeResponse;
using switchboard::v1::Event;
using switchboard::v1::LinkState;

// How the watches end when the view stops.
absl::Status ShuttingDown() {
  return absl::UnavailableError("the service is shutting down");
}

}  // namespace

struct LinkViewCore::Report {
  uint64_t tag;
  Event event;
  LinkReport link;
};

absl::StatusOr<LinkState> LinkViewCore::Get(absl::string_view link_id) const {
  if (link_id.empty()) {
    return absl::InvalidArgumentError(
        "link_id is empty: name a link, as the controller names it");
  }
  absl::MutexLock lock(&mu_);
  auto it = links_.find(std::string(link_id));
  if (it == links_.end()) {
    return absl::NotFoundError(
        absl::StrCat("no status seen for link '", link_id, "'"));
  }
  return it->second.state;
}

std::vector<LinkState> LinkViewCore::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<LinkState> out;
  out.reserve(links_.size());
  for (const auto& [link_id, held] : links_) out.push_back(held.state);
  return out;
}

LinkViewCounters LinkViewCore::counters() const {
  absl::MutexLock lock(&mu_);
  LinkViewCounters out = counters_;
  out.watches = watchers_.size();
  return out;
}

void LinkViewCore::CountStreamOpened() {
  absl::MutexLock lock(&mu_);
  ++counters_.streams_opened;
}

// ----------------------------------------------------------------- watches

bool LinkViewCore::AddWatcher(std::shared_ptr<LinkWatcher> watcher) {
  bool added = false;
  {
    absl::MutexLock lock(&mu_);
    if (!closed_) {
      // Seeded and registered in one step under mu_: each change is either
      // in the snapshot or notified to the watcher, never both or neither.
      for (const auto& [link_id, held] : links_) {
        if (watcher->Wants(link_id)) watcher->Seed(held.state);
      }
      watchers_.emplace(watcher.get(), watcher);
      added = true;
    }
  }
  if (!added) watcher->Finish(ShuttingDown());
  return added;
}

void LinkViewCore::RemoveWatcher(LinkWatcher* watcher) {
  absl::MutexLock lock(&mu_);
  watchers_.erase(watcher);
}

void LinkViewCore::Close() {
  std::vector<std::shared_ptr<LinkWatcher>> watchers;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    for (const auto& [key, watcher] : watchers_) watchers.push_back(watcher);
  }
  for (const auto& watcher : watchers) {
    watcher->Finish(ShuttingDown());
  }
}

// -------------------------------------------------------------- deliveries

std::vector<LinkViewCore::Report> LinkViewCore::ReadReports(
    const ConsumeResponse& response, std::vector<uint64_t>* acks) {
  std::vector<Report> reports;
  reports.reserve(response.deliveries_size());
  for (const auto& d : response.deliveries()) {
    Report r{d.tag(), Event(), LinkReport()};
    std::optional<LinkReport> link;
    if (r.event.ParseFromString(d.event())) link = ReadLinkReport(r.event);
    if (!link.has_value()) {
      // Nothing to show, and left unacked it would sit in the queue
      // forever.
      Logger("consumer")
          ->warn("link view: event {} in {} reports no link status; dropped",
                 d.id(), d.queue());
      acks->push_back(d.tag());
      continue;
    }
    r.link = *std::move(link);
    reports.push_back(std::move(r));
  }
  return reports;
}

std::vector<uint64_t> LinkViewCore::Apply(const ConsumeResponse& response,
                                          uint64_t generation) {
  std::vector<uint64_t> acks;
  std::vector<Report> reports = ReadReports(response, &acks);
  std::vector<LinkState> changes;
  std::vector<std::shared_ptr<LinkWatcher>> watchers;
  {
    absl::MutexLock lock(&mu_);
    counters_.invalid += response.deliveries_size() - reports.size();
    for (Report& r : reports) ApplyLocked(r, generation, &acks, &changes);
    if (!changes.empty()) {
      watchers.reserve(watchers_.size());
      for (const auto& [key, watcher] : watchers_) watchers.push_back(watcher);
    }
  }
  // Outside mu_: a watcher's lock is never taken under the view's when
  // notifying. Only the link stream's OnResponse applies deliveries (its
  // calls never overlap, and CloseStream waits for a stream's end before
  // the next opens), so watchers see the changes in order.
  for (const LinkState& state : changes) {
    for (const auto& watcher : watchers) {
      if (watcher->Wants(state.link_id())) watcher->Offer(state);
    }
  }
  return acks;
}

void LinkViewCore::ApplyLocked(Report& r, uint64_t generation,
                               std::vector<uint64_t>* acks,
                               std::vector<LinkState>* changes) {
  auto [it, first] = links_.try_emplace(r.link.link_id);
  Held& held = it->second;
  // Generations start at 1: 0 means no delivery holds the link.
  const bool live = held.generation == generation;
  const Event& shown = held.state.event();
  if (first || IsNewerLinkEvent(r.event, shown)) {
    if (live) acks->push_back(held.tag);
    LinkState& state = held.state;
    state.set_link_id(r.link.link_id);
    state.set_state(r.link.state);
    *state.mutable_time() = r.event.time();
    *state.mutable_event() = std::move(r.event);
    held.tag = r.tag;
    held.generation = generation;
    ++counters_.updates;
    changes->push_back(state);
  } else if (!r.event.id().empty() && r.event.id() == shown.id()) {
    // The shown status again: its redelivery on a reopened stream, or a
    // copy a broker kept. Hold this one; nothing changed.
    if (live) acks->push_back(held.tag);
    held.tag = r.tag;
    held.generation = generation;
  } else if (live) {
    ++counters_.stale;
    acks->push_back(r.tag);
  } else {
    // Older than the shown status, with nothing holding the link's queue:
    // the shown one went back to the queue on a reopen and may have been
    // dropped there (a last-value queue keeps one ready message). Acking
    // this one could leave the queue empty and a restarted consumer
    // without the link; hold it until the shown status comes back (then it
    // is acked) or a newer one arrives.
    held.tag = r.tag;
    held.generation = generation;
  }
}

}  // namespace switchboard::consumer
