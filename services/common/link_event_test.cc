#include "services/common/link_event.h"

#include "gtest/gtest.h"
#include "services/common/queue_name.h"

namespace switchboard {
namespace {

using switchboard::v1::Event;
using switchboard::v1::LinkStatus;

TEST(LinkEventTest, ReadsTypedPayload) {
  Event e;
  e.mutable_link_status()->set_link_id("l1");
  e.mutable_link_status()->set_state(LinkStatus::DOWN);
  auto report = ReadLinkReport(e);
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->link_id, "l1");
  EXPECT_EQ(report->state, LinkStatus::DOWN);
}

TEST(LinkEventTest, AttributesWinOverPayloadAndRoundTrip) {
  Event e;
  e.mutable_link_status()->set_link_id("typed");
  e.mutable_link_status()->set_state(LinkStatus::DOWN);
  StampLinkReport({"stamped", LinkStatus::UP}, &e);
  auto report = ReadLinkReport(e);
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->link_id, "stamped");
  EXPECT_EQ(report->state, LinkStatus::UP);
}

TEST(LinkEventTest, OtherEventsAreNotLinkReports) {
  Event e;
  EXPECT_FALSE(ReadLinkReport(e).has_value());
  e.mutable_link_status()->set_link_id("l1");  // no state
  EXPECT_FALSE(ReadLinkReport(e).has_value());
  Event bad;
  (*bad.mutable_attributes())[std::string(kLinkIdAttribute)] = "l1";
  (*bad.mutable_attributes())[std::string(kLinkStateAttribute)] = "SIDEWAYS";
  EXPECT_FALSE(ReadLinkReport(bad).has_value());
}

TEST(LinkEventTest, QueueNames) {
  EXPECT_EQ(LinkQueueName("link.", "abc123"), "link.abc123");
  // Unsafe characters: sanitized plus a hash, so these two differ.
  std::string a = LinkQueueName("link.", "s1:1/s2:2");
  std::string b = LinkQueueName("link.", "s1:1.s2:2");
  EXPECT_NE(a, b);
  EXPECT_EQ(a, "link.s1:1.s2:2");
  EXPECT_EQ(b.substr(0, 15), "link.s1:1.s2:2:");
  EXPECT_TRUE(ValidateQueueName(a).ok()) << a;
  EXPECT_EQ(a, LinkQueueName("link.", "s1:1/s2:2"));  // stable
  std::string long_id(500, 'x');
  std::string q = LinkQueueName("link.", long_id);
  EXPECT_TRUE(ValidateQueueName(q).ok()) << q;
  EXPECT_NE(q, LinkQueueName("link.", long_id + "y"));
}

TEST(LinkEventTest, Newer) {
  Event a, b;
  a.mutable_time()->set_seconds(10);
  b.mutable_time()->set_seconds(10);
  a.set_sequence(2);
  b.set_sequence(1);
  // Same clock reading (one batch): the sequence decides.
  EXPECT_TRUE(IsNewerLinkEvent(a, b));
  EXPECT_FALSE(IsNewerLinkEvent(b, a));
  // A later time wins over a higher sequence (the broadcaster restarted).
  b.mutable_time()->set_nanos(1);
  EXPECT_FALSE(IsNewerLinkEvent(a, b));
  EXPECT_TRUE(IsNewerLinkEvent(b, a));
  EXPECT_FALSE(IsNewerLinkEvent(a, a));
}

}  // namespace
}  // namespace switchboard
