// The zeromq driver's wire format: the header round-trips for edge values,
// its layout is the documented one, and decoding rejects truncated or
// corrupt input with a status that says why.
#include "services/mq-bridge/transport/zeromq/zeromq_wire.h"

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard::bridge::zeromq {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST(ZeroMqWireTest, HeaderRoundTripsEdgeValues) {
  const std::vector<uint64_t> values = {
      0, 1, 0xff, 0x100, 0x0102030405060708, uint64_t{1} << 63, kMax - 1, kMax};
  for (bool last_value : {false, true}) {
    for (uint64_t publisher_id : values) {
      for (uint64_t seq : values) {
        const WireHeader header{last_value, publisher_id, seq};
        const std::string bytes = EncodeHeader(header);
        ASSERT_EQ(bytes.size(), kHeaderSize);
        absl::StatusOr<WireHeader> decoded = DecodeHeader(bytes);
        ASSERT_TRUE(decoded.ok()) << decoded.status();
        EXPECT_EQ(*decoded, header)
            << last_value << " " << publisher_id << " " << seq;
      }
    }
  }
}

TEST(ZeroMqWireTest, HeaderLayoutIsVersionFlagsAndBigEndianIds) {
  const std::string bytes =
      EncodeHeader(WireHeader{true, 0x0102030405060708, 0x1112131415161718});
  EXPECT_EQ(bytes, std::string("\x01\x01"
                               "\x01\x02\x03\x04\x05\x06\x07\x08"
                               "\x11\x12\x13\x14\x15\x16\x17\x18",
                               18));
  EXPECT_EQ(EncodeHeader(WireHeader{false, 0, 0}),
            std::string("\x01\x00", 2) + std::string(16, '\0'));
}

TEST(ZeroMqWireTest, UnknownFlagBitsAreIgnored) {
  std::string bytes = EncodeHeader(WireHeader{false, 7, 9});
  bytes[1] = static_cast<char>(0xfe);  // every bit but last-value
  absl::StatusOr<WireHeader> decoded = DecodeHeader(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, (WireHeader{false, 7, 9}));
  bytes[1] = static_cast<char>(0xff);
  decoded = DecodeHeader(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, (WireHeader{true, 7, 9}));
}

TEST(ZeroMqWireTest, DecodeRejectsTruncatedAndOverlongHeaders) {
  const std::string bytes = EncodeHeader(WireHeader{true, kMax, kMax});
  for (size_t n = 0; n < kHeaderSize; ++n) {
    absl::StatusOr<WireHeader> decoded = DecodeHeader(bytes.substr(0, n));
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument) << n;
    EXPECT_THAT(Message(decoded.status()),
                HasSubstr(absl::StrCat(n, " bytes, expected 18")));
  }
  absl::StatusOr<WireHeader> decoded = DecodeHeader(bytes + "x");
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(decoded.status()), HasSubstr("19 bytes, expected 18"));
}

TEST(ZeroMqWireTest, DecodeRejectsOtherProtocolVersions) {
  for (int version : {0, 2, 0x7f, 0x80, 0xff}) {
    std::string bytes = EncodeHeader(WireHeader{false, 1, 1});
    bytes[0] = static_cast<char>(version);
    absl::StatusOr<WireHeader> decoded = DecodeHeader(bytes);
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument)
        << version;
    EXPECT_THAT(
        Message(decoded.status()),
        HasSubstr(absl::StrCat("protocol version ", version, ", expected 1")));
  }
}

TEST(ZeroMqWireTest, MessageHeaderIsTheSecondFrame) {
  const std::string header = EncodeHeader(WireHeader{true, 5, 6});
  const std::vector<std::string> data = {"app.x", header, "id", "payload"};
  absl::StatusOr<WireHeader> decoded = DecodeMessageHeader(data);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, (WireHeader{true, 5, 6}));
  EXPECT_FALSE(IsControlMessage(data));
  EXPECT_TRUE(ValidateDataMessage(data).ok());

  const std::vector<std::string> control = {"", header, "tcp://h:1"};
  EXPECT_TRUE(DecodeMessageHeader(control).ok());
  EXPECT_TRUE(IsControlMessage(control));

  for (const std::vector<std::string>& frames :
       {std::vector<std::string>{}, std::vector<std::string>{"app.x"}}) {
    decoded = DecodeMessageHeader(frames);
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(decoded.status()),
                HasSubstr(absl::StrCat(frames.size(), " frames")));
  }
  decoded = DecodeMessageHeader({"app.x", "not a header"});
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(decoded.status()), HasSubstr("12 bytes, expected 18"));
}

TEST(ZeroMqWireTest, DataMessagesHaveFourFramesAndAValidQueueName) {
  const std::string header = EncodeHeader(WireHeader{});
  for (const std::vector<std::string>& frames :
       {std::vector<std::string>{"app.x", header, "id"},
        std::vector<std::string>{"app.x", header, "id", "payload", "more"}}) {
    absl::Status s = ValidateDataMessage(frames);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(s),
                HasSubstr(absl::StrCat(frames.size(), " frames, expected 4")));
  }
  absl::Status s = ValidateDataMessage({"bad name!", header, "id", "p"});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s), HasSubstr("zeromq data message: "));
}

}  // namespace
}  // namespace switchboard::bridge::zeromq
