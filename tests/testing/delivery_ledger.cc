#include "tests/testing/delivery_ledger.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace switchboard::testing {

std::string DeliveryLedger::Tally::Line() const {
  return absl::StrCat("accepted=", accepted, " received=", received,
                      " lost=", lost, " duplicated=", duplicated);
}

std::string DeliveryLedger::Tally::Details() const {
  return absl::StrCat(
      Line(), " (duplicated_redelivered=", duplicated_redelivered,
      "); some lost: [", absl::StrJoin(some_lost, " "), "]; some duplicated: [",
      absl::StrJoin(some_duplicated, " "), "]");
}

void DeliveryLedger::Accepted(const std::string& id) {
  absl::MutexLock lock(&mu_);
  Entry& e = ids_[id];
  if (e.accepted) return;
  e.accepted = true;
  ++accepted_;
  if (e.received > 0) ++accepted_received_;
}

void DeliveryLedger::Received(const std::string& id, bool redelivered) {
  absl::MutexLock lock(&mu_);
  Entry& e = ids_[id];
  if (e.received > 0 && !redelivered) e.repeat_not_redelivered = true;
  if (e.received == 0) e.first_seen = absl::Now() - start_;
  if (e.received == 1) e.first_repeat = absl::Now() - start_;
  if (e.received++ == 0 && e.accepted) ++accepted_received_;
}

bool DeliveryLedger::AllAcceptedReceived() {
  absl::MutexLock lock(&mu_);
  return accepted_received_ == accepted_;
}

uint64_t DeliveryLedger::accepted() {
  absl::MutexLock lock(&mu_);
  return accepted_;
}

DeliveryLedger::Tally DeliveryLedger::Count() {
  absl::MutexLock lock(&mu_);
  Tally t;
  std::vector<std::string> lost, duplicated;
  for (const auto& [id, e] : ids_) {
    t.accepted += e.accepted;
    t.received += e.received > 0;
    if (e.accepted && e.received == 0) lost.push_back(id);
    if (e.received > 1) {
      auto ms = [](absl::Duration d) {
        return absl::FormatDuration(absl::Trunc(d, absl::Milliseconds(1)));
      };
      duplicated.push_back(
          absl::StrCat(id, "@+", ms(e.first_seen), "/+", ms(e.first_repeat)));
      t.duplicated_redelivered += !e.repeat_not_redelivered;
    }
  }
  t.lost = lost.size();
  t.duplicated = duplicated.size();
  // Sorted samples, so two runs of one seed read alike.
  for (auto* ids : {&lost, &duplicated}) {
    std::sort(ids->begin(), ids->end());
    ids->resize(std::min<size_t>(ids->size(), 10));
  }
  t.some_lost = std::move(lost);
  t.some_duplicated = std::move(duplicated);
  return t;
}

}  // namespace switchboard::testing
