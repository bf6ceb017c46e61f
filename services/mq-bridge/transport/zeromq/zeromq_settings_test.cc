// The zeromq driver's settings: defaults, the example config, and errors
// that name the field (and never the CURVE secret).
#include "services/mq-bridge/transport/zeromq/zeromq_settings.h"

#include <zmq.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard::bridge::zeromq {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

absl::StatusOr<Settings> Parse(const std::string& yaml) {
  // Under its real place in bridge.yaml, so errors show the full path.
  auto root = ConfigNode::Parse(yaml, "bridge.yaml");
  if (!root.ok()) return root.status();
  auto transport = root->Child("transport");
  if (!transport.ok()) return transport.status();
  auto section = transport->Child("zeromq");
  if (!section.ok()) return section.status();
  return ParseSettings(*section);
}

std::string Section(const std::string& settings) {
  std::string yaml = "transport:\n  zeromq:\n";
  for (absl::string_view line : absl::StrSplit(settings, '\n')) {
    if (!line.empty()) absl::StrAppend(&yaml, "    ", line, "\n");
  }
  return yaml;
}

TEST(ZeroMqSettingsTest, Defaults) {
  auto s = Parse(Section(""));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->bind, "tcp://127.0.0.1:5560");
  EXPECT_TRUE(s->connect.empty());
  EXPECT_TRUE(s->connect_self);
  EXPECT_TRUE(s->declare_on_receive);
  EXPECT_EQ(s->send_hwm, 10000u);
  EXPECT_EQ(s->receive_hwm, 10000u);
  EXPECT_EQ(s->max_queue_messages, 100000u);
  EXPECT_EQ(s->max_total_bytes, uint64_t{1} << 30);
  EXPECT_EQ(s->linger, absl::Seconds(1));
  EXPECT_EQ(s->heartbeat, absl::Seconds(1));
  EXPECT_EQ(s->connect_timeout, absl::Seconds(5));

  s = Parse(Section(
      "bind: tcp://*:5560\n"
      "connect: [tcp://bridge-2:5560, 'tcp://[::1]:5561', ipc:///run/z.sock]\n"
      "connect_self: false\n"
      "heartbeat: 250ms\n"));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_THAT(s->connect, ElementsAre("tcp://bridge-2:5560", "tcp://[::1]:5561",
                                      "ipc:///run/z.sock"));
  EXPECT_FALSE(s->connect_self);
  EXPECT_EQ(s->heartbeat, absl::Milliseconds(250));
}

TEST(ZeroMqSettingsTest, ExampleConfigShowsTheDefaults) {
  const char* runfiles = std::getenv("TEST_SRCDIR");
  ASSERT_NE(runfiles, nullptr);
  auto root = ConfigNode::LoadFile(
      absl::StrCat(runfiles, "/switchboard/config/bridge.yaml"));
  ASSERT_TRUE(root.ok()) << root.status();
  auto section = root->Child("transport")->Child("zeromq");
  ASSERT_TRUE(section.ok());
  ASSERT_FALSE(section->Keys().empty());
  auto file = ParseSettings(*section);
  auto defaults = Parse(Section(""));
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(file->bind, defaults->bind);
  EXPECT_EQ(file->connect, defaults->connect);
  EXPECT_EQ(file->connect_self, defaults->connect_self);
  EXPECT_EQ(file->declare_on_receive, defaults->declare_on_receive);
  EXPECT_EQ(file->send_hwm, defaults->send_hwm);
  EXPECT_EQ(file->receive_hwm, defaults->receive_hwm);
  EXPECT_EQ(file->max_queue_messages, defaults->max_queue_messages);
  EXPECT_EQ(file->max_total_bytes, defaults->max_total_bytes);
  EXPECT_EQ(file->linger, defaults->linger);
  EXPECT_EQ(file->heartbeat, defaults->heartbeat);
  EXPECT_EQ(file->connect_timeout, defaults->connect_timeout);
}

TEST(ZeroMqSettingsTest, ErrorsNameTheField) {
  for (const auto& [yaml, expected] :
       std::vector<std::pair<std::string, std::string>>{
           {"bindd: tcp://127.0.0.1:1\n", "bindd: unknown setting"},
           {"bind: udp://127.0.0.1:5560\n",
            "bind: unsupported endpoint 'udp://127.0.0.1:5560'"},
           {"bind: tcp://127.0.0.1\n", "bind: 'tcp://127.0.0.1' has no port"},
           {"bind: tcp://127.0.0.1:70000\n",
            "bind: 'tcp://127.0.0.1:70000' "
            "has no valid port"},
           {"bind: 'ipc://'\n", "bind: ipc:// needs a path"},
           {"connect: [tcp://a:1, 'tcp://*:2']\n",
            "connect[1]: 'tcp://*:2': connect needs the publisher's host"},
           {"connect: [tcp://a:0]\n",
            "connect[0]: 'tcp://a:0' has no valid "
            "port (1 to 65535)"},
           {"connect: [tcp://a:1, tcp://b:1, tcp://a:1]\n",
            "connect[2]: 'tcp://a:1' is listed twice (also connect[0])"},
           {"connect: {a: 1}\n", "connect: expected a list of strings"},
           {"connect_self: maybe\n", "connect_self: "},
           {"send_hwm: 0\n", "send_hwm: must be 1 to 2147483647"},
           {"receive_hwm: -5\n", "receive_hwm: must not be negative"},
           {"max_queue_messages: 0\n",
            "max_queue_messages: must be at least 1"},
           {"max_queue_messages: lots\n",
            "max_queue_messages: expected an integer, got 'lots'"},
           {"max_total_bytes: 0\n", "max_total_bytes: must be at least 1"},
           {"linger: 2m\n", "linger: must be at most 1m"},
           {"linger: -1s\n", "linger: must not be negative"},
           {"heartbeat: 1ms\n", "heartbeat: must be 10ms to 1h"},
           {"connect_timeout: soon\n", "connect_timeout: expected a duration"},
       }) {
    auto s = Parse(Section(yaml));
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << yaml;
    EXPECT_THAT(std::string(s.status().message()),
                HasSubstr("bridge.yaml: transport.zeromq." + expected))
        << yaml;
  }
}

struct KeyPair {
  std::string public_key;
  std::string secret_key;
};

KeyPair NewKeyPair() {
  char public_key[41];
  char secret_key[41];
  EXPECT_EQ(zmq_curve_keypair(public_key, secret_key), 0);
  return {public_key, secret_key};
}

TEST(ZeroMqCurveTest, SettingsErrorsNameTheFieldAndNeverTheSecret) {
  const std::string dir = ::testing::TempDir();
  const KeyPair keys = NewKeyPair();
  const std::string good = dir + "/good.key";
  const std::string bad = dir + "/bad.key";
  { std::ofstream(good) << keys.secret_key << "\n"; }
  { std::ofstream(bad) << "not-a-key-" << keys.secret_key.substr(0, 10); }
  auto ok = Parse(Section(absl::StrCat(
      "connect: ['tcp://b:5560']\ncurve:\n  secret_key_file: ", good,
      "\n  peer_keys: {'tcp://b:5560': '", keys.public_key, "'}\n")));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->curve.secret_key, keys.secret_key);
  for (const auto& [yaml, expected] :
       std::vector<std::pair<std::string, std::string>>{
           {"curve:\n  secret_key_file: " + bad + "\n",
            "curve.secret_key_file: '" + bad +
                "' does not hold a Z85 CURVE secret key"},
           {"curve:\n  secret_key_file: /nonexistent.key\n",
            "curve.secret_key_file: cannot read '/nonexistent.key'"},
           {"connect: ['tcp://b:5560']\ncurve:\n  secret_key_file: " + good +
                "\n",
            "curve.peer_keys: has no key for connect[0] 'tcp://b:5560'"},
           {"curve:\n  secret_key_file: " + good +
                "\n  peer_keys: {'tcp://c:1': '" + keys.public_key + "'}\n",
            "curve.peer_keys.tcp://c:1: is not in connect"},
           {"curve:\n  authorized_keys: ['short']\n",
            "curve.authorized_keys[0]: is not a Z85 CURVE public key"},
           {"curve:\n  authorized_keys: ['" + keys.public_key + "']\n",
            "curve.secret_key_file: must be set for CURVE"},
       }) {
    auto s = Parse(Section(yaml));
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << yaml;
    EXPECT_THAT(std::string(s.status().message()),
                HasSubstr("bridge.yaml: transport.zeromq." + expected))
        << yaml;
    EXPECT_THAT(std::string(s.status().message()),
                Not(HasSubstr(keys.secret_key.substr(0, 10))));
  }
}

TEST(ZeroMqCurveKeyTest, DecodesAndEncodesZ85Keys) {
  const KeyPair keys = NewKeyPair();
  const std::string binary = DecodeCurveKey(keys.public_key);
  ASSERT_EQ(binary.size(), 32u);
  EXPECT_EQ(EncodeCurveKey(binary), keys.public_key);
  EXPECT_EQ(DecodeCurveKey(""), "");
  EXPECT_EQ(DecodeCurveKey(keys.public_key.substr(0, 39)), "");
  EXPECT_EQ(DecodeCurveKey(keys.public_key + "A"), "");
  // Not Z85 (a space), at the right length.
  EXPECT_EQ(DecodeCurveKey(std::string(40, ' ')), "");
}

}  // namespace
}  // namespace switchboard::bridge::zeromq
