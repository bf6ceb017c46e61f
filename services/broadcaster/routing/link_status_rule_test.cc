#include "services/broadcaster/routing/link_status_rule.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/common/link_event.h"

namespace switchboard::broadcaster::routing {
namespace {

using ::switchboard::v1::Event;
using ::switchboard::v1::LinkStatus;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

Event Make(const std::string& type) {
  Event e;
  e.set_source("kytos/topology");
  e.set_type(type);
  return e;
}

void SetJsonString(Event* e, const std::string& outer, const std::string& inner,
                   const std::string& value) {
  (*(*e->mutable_json_data()->mutable_fields())[outer]
        .mutable_struct_value()
        ->mutable_fields())[inner]
      .set_string_value(value);
}

LinkStatusRule::EventTypes Configured() {
  LinkStatusRule::EventTypes types;
  types["down"] = LinkEventType{LinkStatus::DOWN, "link.id"};
  types["up_by_subject"] = LinkEventType{LinkStatus::UP, ""};
  return types;
}

std::vector<std::string> RouteOf(const LinkStatusRule& rule, Event* e,
                                 bool open = true) {
  std::vector<std::string> queues;
  QueueFilters filters;
  Candidates out(&queues, &filters, e->type(), open);
  absl::Status s = rule.Route(e, &out);
  EXPECT_TRUE(s.ok()) << s;
  return queues;
}

TEST(LinkStatusRuleTest, TypedPayloadGoesToItsLinkQueueStamped) {
  LinkStatusRule rule("link.", {});
  Event e = Make("anything");
  e.mutable_link_status()->set_link_id("aa:bb");
  e.mutable_link_status()->set_state(LinkStatus::UP);
  EXPECT_THAT(RouteOf(rule, &e), ElementsAre("link.aa:bb"));
  EXPECT_EQ(e.attributes().at(std::string(kLinkIdAttribute)), "aa:bb");
  EXPECT_EQ(e.attributes().at(std::string(kLinkStateAttribute)), "UP");
}

TEST(LinkStatusRuleTest, ConfiguredTypesReadTheIdFromJsonOrSubject) {
  LinkStatusRule rule("link.", Configured());
  Event json = Make("down");
  SetJsonString(&json, "link", "id", "l1");
  EXPECT_THAT(RouteOf(rule, &json), ElementsAre("link.l1"));
  EXPECT_EQ(json.attributes().at(std::string(kLinkStateAttribute)), "DOWN");
  Event subject = Make("up_by_subject");
  subject.set_subject("l2");
  EXPECT_THAT(RouteOf(rule, &subject), ElementsAre("link.l2"));
}

TEST(LinkStatusRuleTest, ConfiguredTypeWinsOverThePayload) {
  LinkStatusRule rule("link.", Configured());
  Event e = Make("up_by_subject");
  e.set_subject("from-subject");
  e.mutable_link_status()->set_link_id("from-payload");
  EXPECT_THAT(RouteOf(rule, &e), ElementsAre("link.from-subject"));
}

TEST(LinkStatusRuleTest, MissingIdIsRefusedWithThePlaceNamed) {
  LinkStatusRule rule("link.", Configured());
  std::vector<std::string> queues;
  QueueFilters filters;
  Candidates out(&queues, &filters, "down", /*open=*/true);
  // The path leads through a string, not a struct.
  Event e = Make("down");
  (*e.mutable_json_data()->mutable_fields())["link"].set_string_value("l1");
  absl::Status s = rule.Route(&e, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("no link id at json_data.link.id"));
  Event empty_id = Make("down");
  SetJsonString(&empty_id, "link", "id", "");
  EXPECT_FALSE(rule.Route(&empty_id, &out).ok());
  Event no_subject = Make("up_by_subject");
  s = rule.Route(&no_subject, &out);
  EXPECT_THAT(std::string(s.message()), HasSubstr("no link id at subject"));
  EXPECT_THAT(queues, IsEmpty());
}

TEST(LinkStatusRuleTest, OtherEventsLoseForgedAttributes) {
  LinkStatusRule rule("link.", {});
  Event e = Make("not_a_link");
  StampLinkReport({"l9", LinkStatus::DOWN}, &e);
  (*e.mutable_attributes())["kept"] = "yes";
  EXPECT_THAT(RouteOf(rule, &e), IsEmpty());
  EXPECT_FALSE(ReadLinkReport(e).has_value());
  EXPECT_EQ(e.attributes().at("kept"), "yes");
}

TEST(LinkStatusRuleTest, ClosedStillStampsAndValidates) {
  LinkStatusRule rule("link.", Configured());
  Event e = Make("down");
  SetJsonString(&e, "link", "id", "l1");
  EXPECT_THAT(RouteOf(rule, &e, /*open=*/false), IsEmpty());
  EXPECT_EQ(e.attributes().at(std::string(kLinkIdAttribute)), "l1");
  EXPECT_TRUE(rule.sees_filtered_events());
}

TEST(LinkStatusRuleTest, EmptyPrefixTurnsLinkQueuesOff) {
  LinkStatusRule rule("", Configured());
  Event e = Make("down");
  StampLinkReport({"l9", LinkStatus::DOWN}, &e);
  EXPECT_THAT(RouteOf(rule, &e), IsEmpty());
  EXPECT_FALSE(ReadLinkReport(e).has_value());
  std::vector<QueueFamily> families;
  rule.AppendFamilies(&families);
  EXPECT_THAT(families, IsEmpty());
}

TEST(LinkStatusRuleTest, LinkQueuesAreDynamicAndLastValue) {
  LinkStatusRule rule("link.", {});
  std::vector<QueueFamily> families;
  rule.AppendFamilies(&families);
  ASSERT_EQ(families.size(), 1u);
  EXPECT_EQ(families[0].prefix, "link.");
  EXPECT_TRUE(families[0].dynamic);
  EXPECT_TRUE(families[0].last_value);
}

}  // namespace
}  // namespace switchboard::broadcaster::routing
