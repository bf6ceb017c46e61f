// The consumer's decoding of a delivery: the message body a transport hands
// over (an AMQP body, a memory or zeromq payload) is the serialized
// switchboard.v1.Event that the consumer checks for the app
// (call_handle.cc: CheckDelivery, ToAppDelivery; bridge_call.cc) and that the
// link view parses and reads as a link status (link_view.cc: ReadLinkReport,
// IsNewerLinkEvent, the link's queue).
//
// Input: the body. Invariants: a body that parses survives a round trip
// with the same link report; a link report has an id and a known state,
// and its queue name is valid; no event is newer than itself.
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "services/common/link_event.h"
#include "services/common/queue_name.h"
#include "switchboard/v1/event.pb.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using switchboard::LinkReport;
using switchboard::v1::Event;
using switchboard::v1::LinkStatus;

void CheckReport(const std::optional<LinkReport>& report) {
  if (!report.has_value()) return;
  SB_FUZZ_CHECK(!report->link_id.empty(), "empty link id");
  SB_FUZZ_CHECK(report->state != LinkStatus::STATE_UNSPECIFIED,
                "unspecified state for '%s'", report->link_id.c_str());
  const std::string queue =
      switchboard::LinkQueueName("link.", report->link_id);
  SB_FUZZ_CHECK(switchboard::ValidateQueueName(queue).ok(), "'%s'",
                queue.c_str());
  SB_FUZZ_CHECK(absl::StartsWith(queue, "link."), "'%s'", queue.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Event event;
  if (!event.ParseFromArray(data, static_cast<int>(size))) {
    // What the consumer does with a body that is not an Event: it hands
    // the app an event holding only the delivery's id.
    event.Clear();
    event.set_id("not-an-event");
    return 0;
  }
  const std::optional<LinkReport> report = switchboard::ReadLinkReport(event);
  CheckReport(report);
  SB_FUZZ_CHECK(!switchboard::IsNewerLinkEvent(event, event),
                "an event is newer than itself");

  // The consumer re-serializes the event to the app; the app (or the link
  // view after a redelivery) reads the same thing.
  std::string again;
  SB_FUZZ_CHECK(event.SerializeToString(&again), "cannot serialize");
  Event reread;
  SB_FUZZ_CHECK(reread.ParseFromString(again), "cannot parse own output");
  const std::optional<LinkReport> report2 = switchboard::ReadLinkReport(reread);
  SB_FUZZ_CHECK(report.has_value() == report2.has_value(),
                "link report changed in a round trip");
  if (report.has_value()) {
    SB_FUZZ_CHECK(
        report->link_id == report2->link_id && report->state == report2->state,
        "link report changed in a round trip");
  }
  SB_FUZZ_CHECK(!switchboard::IsNewerLinkEvent(event, reread) &&
                    !switchboard::IsNewerLinkEvent(reread, event),
                "a round trip changed the event's order");
  return 0;
}
