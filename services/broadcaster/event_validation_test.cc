#include "services/broadcaster/event_validation.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard::broadcaster {
namespace {

using ::switchboard::v1::Event;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

Event Valid() {
  Event e;
  e.set_source("kytos/topology");
  e.set_type("kytos/topology.link_down");
  return e;
}

// The error for `e`, "" when it is valid.
std::string ErrorOf(const Event& e, TimeBounds bounds = {}) {
  absl::Status s = ValidateEvent(e, bounds, kNow);
  if (s.ok()) return "";
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  return std::string(s.message());
}

TEST(EventValidationTest, AValidEventPasses) {
  Event e = Valid();
  e.set_id("3f1c2a9e-1b2c-4d5e-8f90-0123456789ab");
  e.set_subject("s1:eth1-s2:eth1");
  (*e.mutable_attributes())["trace"] = "abc def";
  e.set_sequence(12);
  EXPECT_EQ(ErrorOf(e), "");
}

// Reproduced on rabbitmq: a 300-byte id (AMQP short strings hold 255) broke
// the bridge's connection and stalled the pipeline; the broadcaster had
// accepted it. Also accepted: an id with a newline and a NUL, and source
// "y/../..".
TEST(EventValidationTest, PoisonIdsAreRefusedNamingTheField) {
  Event e = Valid();
  e.set_id(std::string(300, 'x'));
  EXPECT_THAT(ErrorOf(e), StartsWith("id is 300 characters; the limit is 128"));
  e.set_id(std::string(128, 'x'));
  EXPECT_EQ(ErrorOf(e), "");
  e.set_id(std::string("a\nb\0c", 5));
  EXPECT_THAT(ErrorOf(e), StartsWith("id has a character outside"));
  e.set_id("with space");
  EXPECT_THAT(ErrorOf(e), StartsWith("id "));
}

TEST(EventValidationTest, TypeOf255IsTheLimit) {
  Event e = Valid();
  e.set_type(std::string(255, 't'));
  EXPECT_EQ(ErrorOf(e), "");
  e.set_type(std::string(256, 't'));
  EXPECT_THAT(ErrorOf(e), StartsWith("type is 256 characters; the limit is 255"));
}

TEST(EventValidationTest, SourceAndSubjectAreBoundedTokens) {
  Event e = Valid();
  e.set_source("");
  EXPECT_THAT(ErrorOf(e), StartsWith("source is empty"));
  e.set_source(std::string(151, 's'));
  EXPECT_THAT(ErrorOf(e), StartsWith("source is 151 characters"));
  e.set_source("y/\x01");
  EXPECT_THAT(ErrorOf(e), StartsWith("source has a character"));
  for (const char* bad : {"y/../..", "/abs", "a//b", "a/./b", "trailing/"}) {
    e.set_source(bad);
    EXPECT_THAT(ErrorOf(e), StartsWith("source '")) << bad;
  }
  e.set_source("kytos/of_core.v0x04");
  EXPECT_EQ(ErrorOf(e), "");
  e = Valid();
  e.set_subject(std::string(256, 's'));
  EXPECT_THAT(ErrorOf(e), StartsWith("subject is 256"));
  e.set_subject("a\tb");
  EXPECT_THAT(ErrorOf(e), StartsWith("subject has a character"));
}

TEST(EventValidationTest, TimeMustBeNearTheBroadcastersClock) {
  Event e = Valid();
  // 2099: would pin a link in the link view forever.
  e.mutable_time()->set_seconds(4'070'908'800);
  EXPECT_THAT(ErrorOf(e), AllOf(StartsWith("time is 2099-"),
                                HasSubstr("max_time_ahead (5m)")));
  e.mutable_time()->set_seconds(absl::ToUnixSeconds(kNow) + 60);
  EXPECT_EQ(ErrorOf(e), "");
  e.mutable_time()->set_seconds(absl::ToUnixSeconds(kNow) - 8 * 86400);
  EXPECT_THAT(ErrorOf(e), HasSubstr("max_time_behind (168h)"));
  TimeBounds wide{absl::Hours(1), absl::Hours(24 * 30)};
  EXPECT_EQ(ErrorOf(e, wide), "");
  e.mutable_time()->set_nanos(-1);
  EXPECT_THAT(ErrorOf(e), StartsWith("time.nanos is -1"));
}

TEST(EventValidationTest, SequenceIsBounded) {
  Event e = Valid();
  e.set_sequence(kMaxSequence);
  EXPECT_EQ(ErrorOf(e), "");
  e.set_sequence(UINT64_MAX);
  EXPECT_THAT(ErrorOf(e), StartsWith("sequence is 18446744073709551615"));
}

TEST(EventValidationTest, AttributesAreCountedAndBounded) {
  Event e = Valid();
  for (int i = 0; i < 65; ++i) {
    (*e.mutable_attributes())[absl::StrCat("k", i)] = "v";
  }
  EXPECT_THAT(ErrorOf(e), StartsWith("attributes has 65 entries"));
  e = Valid();
  (*e.mutable_attributes())["k"] = std::string(4097, 'v');
  EXPECT_THAT(ErrorOf(e), StartsWith("attributes['k'] is 4097 bytes"));
  e = Valid();
  (*e.mutable_attributes())["bad key"] = "v";
  EXPECT_THAT(ErrorOf(e), StartsWith("attributes key 'bad key'"));
  e = Valid();
  (*e.mutable_attributes())["k"] = "line\nbreak";
  EXPECT_THAT(ErrorOf(e), StartsWith("attributes['k'] has a control"));
}

TEST(EventValidationTest, JsonDataDepthIsBounded) {
  Event e = Valid();
  google::protobuf::Struct* s = e.mutable_json_data();
  for (int i = 0; i < kMaxStructDepth - 1; ++i) {
    s = (*s->mutable_fields())["n"].mutable_struct_value();
  }
  (*s->mutable_fields())["leaf"].set_string_value("x");
  EXPECT_EQ(ErrorOf(e), "");
  (*s->mutable_fields())["deeper"].mutable_list_value()->add_values()->set_number_value(1);
  EXPECT_THAT(ErrorOf(e), StartsWith("json_data nests deeper than 32"));
}

TEST(EventValidationTest, RegionPayloadFieldsAreChecked) {
  Event e = Valid();
  auto* st = e.mutable_switch_status();
  st->set_switch_id("00:00:00:00:00:00:00:01");
  st->set_region("a");
  st->set_ip("10.0.0.1");
  EXPECT_EQ(ErrorOf(e), "");
  st->set_region("a.b");
  EXPECT_THAT(ErrorOf(e), StartsWith("switch_status.region 'a.b' has a"));
  st->set_region(std::string(65, 'r'));
  EXPECT_THAT(ErrorOf(e), StartsWith("switch_status.region is 65"));
  st->set_region("a");
  st->set_ip(std::string(65, '1'));
  EXPECT_THAT(ErrorOf(e), StartsWith("switch_status.ip is 65"));
  st->set_ip("10.0.0.1");
  st->set_switch_id("s 1");
  EXPECT_THAT(ErrorOf(e), StartsWith("switch_status.switch_id has a"));
  st->set_switch_id("s1");
  st->add_connections()->set_region("forged");
  EXPECT_THAT(ErrorOf(e), StartsWith("switch_status.connections is the"));

  e = Valid();
  e.mutable_port_status()->set_region("../x");
  EXPECT_THAT(ErrorOf(e), StartsWith("port_status.region '../x'"));
  e = Valid();
  e.mutable_heartbeat()->set_region("r\n");
  EXPECT_THAT(ErrorOf(e), StartsWith("heartbeat.region"));
  e = Valid();
  e.mutable_command()->add_target_switches(std::string(129, 's'));
  EXPECT_THAT(ErrorOf(e), StartsWith("command.target_switches[0] is 129"));
  e = Valid();
  e.mutable_link_status()->set_link_id("l1");
  EXPECT_THAT(ErrorOf(e), StartsWith("link_status.state is unset"));
  e.mutable_link_status()->set_state(switchboard::v1::LinkStatus::DOWN);
  EXPECT_EQ(ErrorOf(e), "");
  e.mutable_link_status()->set_link_id(std::string(256, 'l'));
  EXPECT_THAT(ErrorOf(e), StartsWith("link_status.link_id is 256"));
}

}  // namespace
}  // namespace switchboard::broadcaster
