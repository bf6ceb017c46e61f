#include "services/common/wire/wire_check.h"

#include <random>
#include <string>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "switchboard/v1/event.pb.h"

namespace switchboard::wire {
namespace {

using switchboard::v1::Event;

// An event that uses every kind of field: strings, a map, a timestamp, a
// oneof message with nested messages, repeated strings, a Struct.
Event Sample(int variant) {
  Event e;
  e.set_id("00000000-0000-4000-8000-000000000001");
  e.set_source("kytos/of_core");
  e.set_type("link.status");
  e.mutable_time()->set_seconds(1700000000 + variant);
  e.mutable_time()->set_nanos(123456789);
  e.set_sequence(42 + variant);
  e.set_subject("link-1");
  (*e.mutable_attributes())["region"] = "east";
  (*e.mutable_attributes())["é"] = "ü";
  switch (variant % 4) {
    case 0: {
      auto* l = e.mutable_link_status();
      l->set_link_id("link-1");
      l->set_state(switchboard::v1::LinkStatus::DOWN);
      l->set_reason("port down");
      l->mutable_endpoint_a()->set_switch_id("00:01");
      l->mutable_endpoint_a()->set_port(3);
      break;
    }
    case 1: {
      auto* c = e.mutable_command();
      c->set_name("install_flow");
      c->add_target_switches("00:01");
      c->add_target_switches("00:02");
      c->set_body(std::string("\0\xff\x80", 3));
      break;
    }
    case 2: {
      auto& fields = *e.mutable_json_data()->mutable_fields();
      fields["a"].set_string_value("text");
      fields["b"].mutable_list_value()->add_values()->set_number_value(1.5);
      fields["c"].mutable_struct_value()->mutable_fields()->insert(
          {"d", google::protobuf::Value()});
      break;
    }
    default:
      e.set_binary_data(std::string(200, '\x80'));
  }
  return e;
}

TEST(WireCheckTest, ValidEventsPass) {
  for (int v = 0; v < 4; ++v) {
    EXPECT_TRUE(
        CheckMessage(*Event::descriptor(), Sample(v).SerializeAsString()).ok())
        << v;
  }
  EXPECT_TRUE(CheckMessage(*Event::descriptor(), "").ok());
}

TEST(WireCheckTest, InvalidUtf8IsNamedByItsFieldPath) {
  Event e = Sample(0);
  e.set_source("bad\xc3");
  // Serializing invalid UTF-8 logs; the bytes are what an outside
  // publisher could send.
  std::string bytes;
  ASSERT_TRUE(e.SerializePartialToString(&bytes));
  absl::Status s = CheckMessage(*Event::descriptor(), bytes);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "not a valid switchboard.v1.Event: field source: invalid UTF-8");

  e = Sample(0);
  (*e.mutable_attributes())["k"] = "\xff";
  ASSERT_TRUE(e.SerializePartialToString(&bytes));
  EXPECT_EQ(CheckMessage(*Event::descriptor(), bytes).message(),
            "not a valid switchboard.v1.Event: field attributes.value: "
            "invalid UTF-8");

  e = Sample(2);
  (*e.mutable_json_data()->mutable_fields())["x"].set_string_value("\xc0");
  ASSERT_TRUE(e.SerializePartialToString(&bytes));
  EXPECT_EQ(CheckMessage(*Event::descriptor(), bytes).message(),
            "not a valid switchboard.v1.Event: field "
            "json_data.fields.value.string_value: invalid UTF-8");
}

TEST(WireCheckTest, TruncatedAndGarbageFail) {
  const std::string bytes = Sample(0).SerializeAsString();
  EXPECT_FALSE(
      CheckMessage(*Event::descriptor(),
                   absl::string_view(bytes).substr(0, bytes.size() - 1))
          .ok());
  EXPECT_FALSE(CheckMessage(*Event::descriptor(), "not protobuf").ok());
  EXPECT_FALSE(CheckMessage(*Event::descriptor(), std::string(1, '\0')).ok());
  // An end-group tag outside a group.
  EXPECT_FALSE(CheckMessage(*Event::descriptor(), "\x0c").ok());
}

// The oracle: the generated parser. Random corruptions of valid events
// (byte flips, cuts, insertions, spliced pieces) must be judged as the
// parser judges them.
TEST(WireCheckTest, AgreesWithTheParserOnCorruptedEvents) {
  std::mt19937 rng(20261202);
  int valid = 0, invalid = 0;
  for (int round = 0; round < 40000; ++round) {
    std::string bytes = Sample(round).SerializeAsString();
    const int edits = 1 + rng() % 3;
    for (int k = 0; k < edits && !bytes.empty(); ++k) {
      const size_t at = rng() % bytes.size();
      switch (rng() % 5) {
        case 0:
          bytes[at] = static_cast<char>(rng());
          break;
        case 1:
          bytes[at] ^= static_cast<char>(1 << (rng() % 8));
          break;
        case 2:
          bytes.resize(at);
          break;
        case 3:
          bytes.insert(at, 1, static_cast<char>(rng()));
          break;
        default:
          bytes.append(bytes.substr(at, rng() % 16));
      }
    }
    Event parsed;
    const bool parses = parsed.ParseFromString(bytes);
    const absl::Status checked = CheckMessage(*Event::descriptor(), bytes);
    ASSERT_EQ(checked.ok(), parses)
        << "round " << round << ": " << checked << "; bytes (hex) "
        << absl::BytesToHexString(bytes);
    (parses ? valid : invalid)++;
  }
  // Both outcomes were exercised.
  EXPECT_GT(valid, 1000);
  EXPECT_GT(invalid, 1000);
}

TEST(WireCheckTest, TimestampNanosReadsTheTimeField) {
  const Event e = Sample(1);
  EXPECT_EQ(TimestampNanos(e.SerializeAsString(), 4),
            int64_t{1700000001} * 1000000000 + 123456789);
  Event none;
  none.set_id("x");
  EXPECT_EQ(TimestampNanos(none.SerializeAsString(), 4), absl::nullopt);
  EXPECT_EQ(TimestampNanos("\xff\xff", 4), absl::nullopt);
}

}  // namespace
}  // namespace switchboard::wire
