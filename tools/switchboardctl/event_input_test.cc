#include "tools/switchboardctl/event_input.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard::ctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::StartsWith;

template <typename T>
std::string ErrorOf(const absl::StatusOr<T>& result) {
  return std::string(result.status().message());
}

TEST(ParseAttributesTest, ParsesPairs) {
  auto attributes = ParseAttributes("trace=abc,instance=kytos-1");
  ASSERT_TRUE(attributes.ok()) << attributes.status();
  EXPECT_THAT(*attributes,
              ElementsAre(Pair("instance", "kytos-1"), Pair("trace", "abc")));
}

TEST(ParseAttributesTest, EmptyTextIsNoAttributes) {
  auto attributes = ParseAttributes("");
  ASSERT_TRUE(attributes.ok());
  EXPECT_THAT(*attributes, IsEmpty());
}

TEST(ParseAttributesTest, ValueMayBeEmptyOrHoldEquals) {
  auto attributes = ParseAttributes("a=,b=x=y");
  ASSERT_TRUE(attributes.ok()) << attributes.status();
  EXPECT_THAT(*attributes, ElementsAre(Pair("a", ""), Pair("b", "x=y")));
}

TEST(ParseAttributesTest, MissingEqualsIsAnErrorNamingTheItem) {
  auto attributes = ParseAttributes("a=1,oops");
  ASSERT_FALSE(attributes.ok());
  EXPECT_EQ(attributes.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ErrorOf(attributes), HasSubstr("'oops' has no '='"));
}

TEST(ParseAttributesTest, EmptyKeyAndDuplicateKeyAreErrors) {
  EXPECT_THAT(ErrorOf(ParseAttributes("=v")), HasSubstr("empty key"));
  EXPECT_THAT(ErrorOf(ParseAttributes("a=1,a=2")),
              HasSubstr("'a' is given twice"));
  EXPECT_FALSE(ParseAttributes("a=1,").ok());
}

TEST(ParseLinkStateTest, AcceptsUpAndDownInAnyCase) {
  EXPECT_EQ(*ParseLinkState("up"), v1::LinkStatus::UP);
  EXPECT_EQ(*ParseLinkState("DOWN"), v1::LinkStatus::DOWN);
  EXPECT_THAT(ErrorOf(ParseLinkState("sideways")),
              HasSubstr("expected up or down"));
}

TEST(BuildEventTest, HeaderFieldsAndAttributes) {
  EventFlags flags;
  flags.type = "kytos/topology.link_down";
  flags.source = "kytos/topology";
  flags.subject = "s1:1-s2:1";
  flags.attr = "trace=abc";
  auto event = BuildEvent(flags);
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->type(), "kytos/topology.link_down");
  EXPECT_EQ(event->source(), "kytos/topology");
  EXPECT_EQ(event->subject(), "s1:1-s2:1");
  EXPECT_EQ(event->attributes().at("trace"), "abc");
  EXPECT_EQ(event->data_case(), v1::Event::DATA_NOT_SET);
  EXPECT_TRUE(event->id().empty());
}

TEST(BuildEventTest, JsonBecomesJsonData) {
  EventFlags flags;
  flags.json = R"({"a":1,"b":{"c":["x",true]}})";
  auto event = BuildEvent(flags);
  ASSERT_TRUE(event.ok()) << event.status();
  ASSERT_EQ(event->data_case(), v1::Event::kJsonData);
  const auto& fields = event->json_data().fields();
  EXPECT_EQ(fields.at("a").number_value(), 1);
  EXPECT_EQ(fields.at("b")
                .struct_value()
                .fields()
                .at("c")
                .list_value()
                .values(1)
                .bool_value(),
            true);
}

TEST(BuildEventTest, InvalidOrNonObjectJsonIsAnErrorNamingTheFlag) {
  EventFlags flags;
  flags.json = R"({"a":)";
  auto event = BuildEvent(flags);
  ASSERT_FALSE(event.ok());
  EXPECT_THAT(ErrorOf(event), StartsWith("--json: "));
  EXPECT_THAT(ErrorOf(event), ::testing::Not(HasSubstr("\n")));

  flags.json = "[1,2]";
  EXPECT_THAT(ErrorOf(BuildEvent(flags)), StartsWith("--json: "));
}

TEST(BuildEventTest, LinkBuildsLinkStatusAndDefaultsTheSubject) {
  EventFlags flags;
  flags.link = "s1:1-s2:1";
  flags.link_state = "down";
  auto event = BuildEvent(flags);
  ASSERT_TRUE(event.ok()) << event.status();
  ASSERT_EQ(event->data_case(), v1::Event::kLinkStatus);
  EXPECT_EQ(event->link_status().link_id(), "s1:1-s2:1");
  EXPECT_EQ(event->link_status().state(), v1::LinkStatus::DOWN);
  EXPECT_EQ(event->subject(), "s1:1-s2:1");

  flags.subject = "other";
  EXPECT_EQ(BuildEvent(flags)->subject(), "other");
}

TEST(BuildEventTest, FlagConflictsAreErrors) {
  EventFlags both;
  both.json = "{}";
  both.link = "l";
  both.link_state = "up";
  EXPECT_THAT(ErrorOf(BuildEvent(both)), HasSubstr("--json and --link"));

  EventFlags no_state;
  no_state.link = "l";
  EXPECT_THAT(ErrorOf(BuildEvent(no_state)),
              HasSubstr("--link needs --link_state"));

  EventFlags no_link;
  no_link.link_state = "up";
  EXPECT_THAT(ErrorOf(BuildEvent(no_link)),
              HasSubstr("--link_state needs --link"));

  EventFlags bad_state;
  bad_state.link = "l";
  bad_state.link_state = "flapping";
  EXPECT_THAT(ErrorOf(BuildEvent(bad_state)), StartsWith("--link_state: "));

  EventFlags bad_attr;
  bad_attr.attr = "novalue";
  EXPECT_THAT(ErrorOf(BuildEvent(bad_attr)), StartsWith("--attr: "));
}

TEST(ParseEventJsonLineTest, ParsesTheProto3JsonMapping) {
  auto event = ParseEventJsonLine(
      R"({"source":"kytos/topology","type":"kytos/topology.link_down",)"
      R"("subject":"s1:1-s2:1","jsonData":{"a":1},)"
      R"("attributes":{"k":"v"},"time":"2024-05-01T10:00:00Z","sequence":"7"})",
      1);
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->source(), "kytos/topology");
  EXPECT_EQ(event->type(), "kytos/topology.link_down");
  EXPECT_EQ(event->subject(), "s1:1-s2:1");
  EXPECT_EQ(event->json_data().fields().at("a").number_value(), 1);
  EXPECT_EQ(event->attributes().at("k"), "v");
  EXPECT_EQ(event->time().seconds(), 1714557600);
  EXPECT_EQ(event->sequence(), 7u);
}

TEST(ParseEventJsonLineTest, AcceptsProtoFieldNamesAndTypedPayloads) {
  auto event = ParseEventJsonLine(
      R"({"source":"s","type":"t","link_status":{"link_id":"l","state":"UP"}})",
      1);
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->link_status().state(), v1::LinkStatus::UP);
}

TEST(ParseEventJsonLineTest, MalformedLineIsAnErrorNamingTheLine) {
  auto event = ParseEventJsonLine(R"({"source":"s",)", 42);
  ASSERT_FALSE(event.ok());
  EXPECT_EQ(event.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ErrorOf(event), StartsWith("line 42: "));
  EXPECT_THAT(ErrorOf(event), ::testing::Not(HasSubstr("\n")));
}

TEST(ParseEventJsonLineTest, UnknownFieldsAndWrongTypesAreErrors) {
  EXPECT_THAT(ErrorOf(ParseEventJsonLine(R"({"sauce":"s"})", 3)),
              StartsWith("line 3: "));
  EXPECT_THAT(ErrorOf(ParseEventJsonLine(R"({"sequence":"many"})", 4)),
              StartsWith("line 4: "));
  EXPECT_THAT(ErrorOf(ParseEventJsonLine("not json", 5)),
              StartsWith("line 5: "));
}

TEST(IsBlankLineTest, WhitespaceOnly) {
  EXPECT_TRUE(IsBlankLine(""));
  EXPECT_TRUE(IsBlankLine("  \t"));
  EXPECT_FALSE(IsBlankLine(" {} "));
}

}  // namespace
}  // namespace switchboard::ctl
