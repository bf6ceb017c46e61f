// The answer phase of the publishing path: the producer's PublishResponse
// from each event's Outcome, and the counters it adds to.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "services/broadcaster/accept_batch.h"
#include "services/broadcaster/broadcaster_service.h"
#include "services/common/link_event.h"

namespace switchboard::broadcaster {
namespace accept_internal {

using switchboard::v1::Event;
using switchboard::v1::PublishRequest;
using switchboard::v1::PublishResponse;

void AddRejection(PublishResponse& response, int index, absl::StatusCode code,
                  absl::string_view reason) {
  auto* r = response.add_rejections();
  r->set_index(index);
  r->set_code(static_cast<int32_t>(code));
  r->set_reason(absl::StrCat("events[", index, "]: ", reason));
}

PublishResponse RefuseBatch(const PublishRequest& request,
                            const std::string& reason) {
  PublishResponse response;
  response.set_batch_id(request.batch_id());
  for (int i = 0; i < request.events_size(); ++i) {
    auto* r = response.add_rejections();
    r->set_index(i);
    r->set_code(static_cast<int32_t>(absl::StatusCode::kInvalidArgument));
    r->set_reason(reason);
    response.add_event_ids();
  }
  return response;
}

}  // namespace accept_internal

using accept_internal::AddRejection;
using switchboard::v1::Event;
using switchboard::v1::PublishResponse;

PublishResponse BroadcasterService::Answer(Batch& batch) {
  PublishResponse response;
  response.set_batch_id(batch.request.batch_id());
  const EventBuffer::Stats stats = buffer_.stats();
  uint64_t accepted = 0, filtered = 0, links = 0, invalid = 0, full = 0;
  uint64_t over_cap = 0;
  uint64_t commands = 0, unroutables = 0;
  // In request order.
  for (int i = 0; i < batch.request.events_size(); ++i) {
    const Event& e = batch.request.events(i);
    switch (batch.outcome[i]) {
      case Outcome::kUnroutable:
        // Kept in the unroutable queue: its id is reported with the error.
        response.add_event_ids(e.id());
        ++unroutables;
        AddRejection(response, i, batch.unroutable[i].code(),
                     batch.unroutable[i].message());
        break;
      case Outcome::kRouted:
      case Outcome::kFiltered:
      case Outcome::kAbsorbed:
        response.add_event_ids(e.id());
        ++accepted;
        if (batch.outcome[i] == Outcome::kFiltered) {
          ++filtered;
        } else if (e.attributes().contains(std::string(kLinkIdAttribute))) {
          ++links;
        } else if (batch.regions() && e.has_command() &&
                   batch.outcome[i] == Outcome::kRouted) {
          ++commands;
        }
        break;
      case Outcome::kInvalid:
        response.add_event_ids();
        if (absl::IsResourceExhausted(batch.error[i])) {
          ++over_cap;
        } else if (!absl::IsPermissionDenied(batch.error[i])) {
          ++invalid;  // denials are counted by the AuthPolicy
        }
        AddRejection(response, i, batch.error[i].code(),
                     batch.error[i].message());
        break;
      case Outcome::kRefusedFull:
        response.add_event_ids();
        ++full;
        AddRejection(response, i, absl::StatusCode::kResourceExhausted,
                     absl::StrCat("the buffer is full (", stats.events,
                                  " events, ", stats.bytes,
                                  " bytes) because the bridge is slow or down; "
                                  "retry later"));
        break;
    }
  }
  response.set_accepted(accepted);
  accepted_ += accepted;
  filtered_ += filtered;
  link_events_ += links;
  commands_routed_ += commands;
  commands_unroutable_ += unroutables;
  rejected_invalid_ += invalid;
  rejected_full_ += full;
  rejected_queue_cap_ += over_cap;
  if (full > 0 || stats.dropped > 0) ReportLosses(stats);
  return response;
}

void BroadcasterService::ApplyConfirmations(
    const std::vector<absl::Status>& outcomes, PublishResponse& response) {
  absl::flat_hash_set<uint32_t> rejected;
  for (const auto& r : response.rejections()) rejected.insert(r.index());
  uint64_t lost = 0;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    if (outcomes[i].ok() || rejected.contains(i)) continue;
    AddRejection(response, static_cast<int>(i), outcomes[i].code(),
                 outcomes[i].message());
    ++lost;
  }
  if (lost > 0) {
    std::sort(
        response.mutable_rejections()->begin(),
        response.mutable_rejections()->end(),
        [](const auto& a, const auto& b) { return a.index() < b.index(); });
  }
  response.set_accepted(response.accepted() - lost);
  confirm_failed_ += lost;
  confirmed_ += response.accepted();
}

}  // namespace switchboard::broadcaster
