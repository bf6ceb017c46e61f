#include "services/common/server_limits.h"

#include "gtest/gtest.h"

namespace switchboard {
namespace {

ServerLimits ParseOk(const std::string& yaml,
                     const ServerLimits& defaults = ServerLimits()) {
  auto node = ConfigNode::Parse(yaml, "x.yaml");
  EXPECT_TRUE(node.ok()) << node.status();
  auto limits = ServerLimits::Parse(*node, defaults);
  EXPECT_TRUE(limits.ok()) << limits.status();
  return limits.ok() ? *limits : ServerLimits();
}

absl::Status ParseError(const std::string& yaml) {
  auto node = ConfigNode::Parse(yaml, "x.yaml");
  EXPECT_TRUE(node.ok()) << node.status();
  return ServerLimits::Parse(*node).status();
}

TEST(ServerLimitsTest, DefaultsWhenAbsent) {
  ServerLimits limits = ParseOk("listen: 127.0.0.1:0\n");
  EXPECT_EQ(limits.max_receive_message_bytes, 4u << 20);
  EXPECT_EQ(limits.max_concurrent_streams, 100u);
  EXPECT_EQ(limits.keepalive_time, absl::Seconds(20));
  EXPECT_EQ(limits.keepalive_timeout, absl::Seconds(10));
  ServerLimits bridge;
  bridge.max_concurrent_streams = 10000;
  EXPECT_EQ(ParseOk("", bridge).max_concurrent_streams, 10000u);
}

TEST(ServerLimitsTest, ReadsEverySetting) {
  ServerLimits limits = ParseOk(
      "limits:\n"
      "  max_receive_message_bytes: 65536\n"
      "  max_concurrent_streams: 7\n"
      "  keepalive_time: 2s\n"
      "  keepalive_timeout: 1s\n");
  EXPECT_EQ(limits.max_receive_message_bytes, 65536u);
  EXPECT_EQ(limits.max_concurrent_streams, 7u);
  EXPECT_EQ(limits.keepalive_time, absl::Seconds(2));
  EXPECT_EQ(limits.keepalive_timeout, absl::Seconds(1));
}

TEST(ServerLimitsTest, ErrorsNameTheField) {
  EXPECT_EQ(ParseError("limits: {max_receive_message_bytes: 10}\n").message(),
            "x.yaml: limits.max_receive_message_bytes: must be 4096 to "
            "1073741824, got 10");
  EXPECT_EQ(ParseError("limits: {max_concurrent_streams: 0}\n").message(),
            "x.yaml: limits.max_concurrent_streams: must be 1 to 2147483647");
  EXPECT_EQ(ParseError("limits: {keepalive_time: 100ms}\n").message(),
            "x.yaml: limits.keepalive_time: must be 1s to 24h, got 100ms");
  EXPECT_EQ(ParseError("limits: {keepalive_timeout: 0s}\n").message(),
            "x.yaml: limits.keepalive_timeout: must be 1s to 24h, got 0");
  EXPECT_EQ(ParseError("limits: {max_streams: 3}\n").message(),
            "x.yaml: limits.max_streams: unknown setting (misspelt, or not "
            "valid here)");
  EXPECT_FALSE(ParseError("limits: 3\n").ok());
}

}  // namespace
}  // namespace switchboard
