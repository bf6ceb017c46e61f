#include "services/common/listen_settings.h"

#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/unix_socket_testing.h"

namespace switchboard {
namespace {

using ::switchboard::testing::OwnGroupName;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const ListenSettings kDefaults = ListenSettings::Tcp("0.0.0.0", 50051);

absl::StatusOr<ListenSettings> ParseYaml(const std::string& yaml,
                                         const std::string& flag = "") {
  auto node = ConfigNode::Parse(yaml, "test.yaml");
  if (!node.ok()) return node.status();
  return ListenSettings::Parse(*node, "listen", kDefaults, flag);
}

std::string ErrorOf(const std::string& yaml, const std::string& flag = "") {
  auto parsed = ParseYaml(yaml, flag);
  EXPECT_FALSE(parsed.ok()) << yaml << " parsed as " << parsed->ToString();
  return parsed.ok() ? "" : std::string(parsed.status().message());
}

TEST(ListenSettingsTest, AbsentKeepsTheDefaults) {
  auto s = ParseYaml("other: 1\n");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, kDefaults);
  EXPECT_THAT(s->addresses(), ElementsAre("0.0.0.0:50051"));
  EXPECT_EQ(s->primary_address(), "0.0.0.0:50051");
  EXPECT_EQ(s->ToString(), "0.0.0.0:50051");
}

TEST(ListenSettingsTest, SingleAddressFormStaysValid) {
  auto tcp = ParseYaml("listen: 127.0.0.1:0\n");
  ASSERT_TRUE(tcp.ok()) << tcp.status();
  EXPECT_TRUE(tcp->has_tcp());
  EXPECT_FALSE(tcp->has_unix_socket());
  EXPECT_EQ(tcp->bind_address, "127.0.0.1");
  EXPECT_EQ(tcp->port, 0u);

  auto v6 = ParseYaml("listen: '[::]:50051'\n");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->bind_address, "::");
  EXPECT_EQ(v6->tcp_address(), "[::]:50051");

  auto unix_socket = ParseYaml("listen: unix:/tmp/sb.sock\n");
  ASSERT_TRUE(unix_socket.ok()) << unix_socket.status();
  EXPECT_FALSE(unix_socket->has_tcp());
  EXPECT_EQ(unix_socket->unix_socket.path, "/tmp/sb.sock");
  EXPECT_EQ(unix_socket->unix_socket.mode, 0660u);
  EXPECT_THAT(unix_socket->addresses(), ElementsAre("unix:/tmp/sb.sock"));

  auto uri = ParseYaml("listen: unix:///tmp/sb.sock\n");
  ASSERT_TRUE(uri.ok()) << uri.status();
  EXPECT_EQ(uri->unix_socket.path, "/tmp/sb.sock");

  auto direct = ListenSettings::FromAddress("localhost:50052");
  ASSERT_TRUE(direct.ok()) << direct.status();
  EXPECT_EQ(direct->tcp_address(), "localhost:50052");
}

TEST(ListenSettingsTest, StructuredForm) {
  auto s = ParseYaml(
      "listen:\n"
      "  transport: tcp\n"
      "  bind_address: 127.0.0.1\n"
      "  port: 6000\n"
      "  unix_socket:\n"
      "    path: /tmp/sb.sock\n"
      "    mode: \"0600\"\n"
      "    group: \"" +
      std::to_string(getegid()) + "\"\n");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->has_tcp());
  EXPECT_TRUE(s->has_unix_socket());
  EXPECT_THAT(s->addresses(),
              ElementsAre("127.0.0.1:6000", "unix:/tmp/sb.sock"));
  EXPECT_EQ(s->unix_socket.mode, 0600u);
  EXPECT_EQ(s->ToString(), absl::StrCat("127.0.0.1:6000 + unix:/tmp/sb.sock "
                                        "(mode 0600, group ",
                                        getegid(), ")"));

  // Absent fields keep the defaults; an unquoted mode is octal too.
  auto partial =
      ParseYaml("listen:\n  unix_socket: {path: /tmp/sb.sock, mode: 0640}\n");
  ASSERT_TRUE(partial.ok()) << partial.status();
  EXPECT_EQ(partial->tcp_address(), "0.0.0.0:50051");
  EXPECT_EQ(partial->unix_socket.mode, 0640u);

  auto unix_only = ParseYaml(
      "listen:\n  transport: unix\n  unix_socket:\n    path: /tmp/sb.sock\n"
      "    group: " +
      OwnGroupName() + "\n");
  ASSERT_TRUE(unix_only.ok()) << unix_only.status();
  EXPECT_THAT(unix_only->addresses(), ElementsAre("unix:/tmp/sb.sock"));
  EXPECT_EQ(unix_only->primary_address(), "unix:/tmp/sb.sock");
  EXPECT_EQ(unix_only->unix_socket.mode, 0660u);

  // The shipped example: every field at its default.
  auto example = ParseYaml(
      "listen:\n  transport: tcp\n  bind_address: 0.0.0.0\n  port: 50051\n"
      "  unix_socket:\n    path: \"\"\n    mode: \"0660\"\n    group: \"\"\n");
  ASSERT_TRUE(example.ok()) << example.status();
  EXPECT_EQ(*example, kDefaults);
}

TEST(ListenSettingsTest, ErrorsNameTheField) {
  EXPECT_THAT(ErrorOf("listen:\n  transport: udp\n"),
              HasSubstr("test.yaml: listen.transport: expected tcp or unix, "
                        "got 'udp'"));
  EXPECT_THAT(ErrorOf("listen:\n  port: 70000\n"),
              HasSubstr("listen.port: must be 0 (any free port) to 65535, "
                        "got 70000"));
  EXPECT_THAT(ErrorOf("listen:\n  port: -1\n"), HasSubstr("listen.port"));
  EXPECT_THAT(ErrorOf("listen:\n  port: http\n"),
              HasSubstr("listen.port: expected a port number, got 'http'"));
  EXPECT_THAT(ErrorOf("listen: 0.0.0.0:99999\n"),
              HasSubstr("listen: port: must be 0"));
  EXPECT_THAT(ErrorOf("listen:\n  bind_address: \"\"\n"),
              HasSubstr("listen.bind_address: must be set"));
  EXPECT_THAT(ErrorOf("listen:\n  unix_socket: {mode: \"0990\"}\n"),
              HasSubstr("listen.unix_socket.mode: expected an octal file "
                        "mode such as \"0660\", got '0990'"));
  EXPECT_THAT(ErrorOf("listen:\n  unix_socket: {mode: rw-rw----}\n"),
              HasSubstr("listen.unix_socket.mode: expected an octal"));
  EXPECT_THAT(ErrorOf("listen:\n  unix_socket: {mode: \"4770\"}\n"),
              HasSubstr("listen.unix_socket.mode: 4770 is too wide"));
  EXPECT_THAT(ErrorOf("listen:\n  unix_socket: {mode: \"0440\"}\n"),
              HasSubstr("listen.unix_socket.mode: 0440 grants no write "
                        "permission"));
  EXPECT_THAT(
      ErrorOf("listen:\n  unix_socket: {path: /tmp/x.sock, group: "
              "no-such-group-sb}\n"),
      HasSubstr("listen.unix_socket.group: unknown group 'no-such-group-sb'"));
  EXPECT_THAT(ErrorOf("listen:\n  transport: unix\n"),
              HasSubstr("listen.unix_socket.path: must be set when transport "
                        "is unix"));
  std::string long_path = "/tmp/" + std::string(110, 'a') + ".sock";
  EXPECT_THAT(ErrorOf("listen:\n  unix_socket: {path: " + long_path + "}\n"),
              HasSubstr("bytes; a unix socket path holds at most 107"));
  EXPECT_THAT(ErrorOf("listen: unix:" + long_path + "\n"),
              HasSubstr("listen: unix_socket.path: '"));
  EXPECT_THAT(ErrorOf("listen:\n  unix_socket: {path: /no/such/dir/sb.sock}\n"),
              HasSubstr("listen.unix_socket.path: directory '/no/such/dir' of "
                        "'/no/such/dir/sb.sock' does not exist"));
  EXPECT_THAT(ErrorOf("listen:\n  unix_socket: {path: /etc/passwd/sb.sock}\n"),
              HasSubstr("'/etc/passwd' (in '/etc/passwd/sb.sock') is not a "
                        "directory"));
  EXPECT_THAT(ErrorOf("listen:\n  unix_socket: {path: /tmp/}\n"),
              HasSubstr("names a directory"));
  EXPECT_THAT(ErrorOf("listen:\n  unix_socket: {path: /tmp/a, owner: me}\n"),
              HasSubstr("listen.unix_socket.owner: unknown setting"));
  EXPECT_THAT(ErrorOf("listen:\n  adress: 1.2.3.4\n"),
              HasSubstr("listen.adress: unknown setting"));
  EXPECT_THAT(ErrorOf("listen:\n  unix_socket: /tmp/a.sock\n"),
              HasSubstr("listen.unix_socket: expected a mapping"));
  EXPECT_THAT(ErrorOf("listen: [a, b]\n"),
              HasSubstr("listen: expected a single value, got a list"));
  EXPECT_THAT(ErrorOf("listen: \"\"\n"), HasSubstr("listen: must be set"));
  EXPECT_THAT(ErrorOf("listen: localhost\n"),
              HasSubstr("listen: expected host:port"));
  EXPECT_THAT(ErrorOf("listen: '::1:50051'\n"),
              HasSubstr("write an IPv6 address in brackets"));
  EXPECT_THAT(ErrorOf("listen: \"unix:\"\n"),
              HasSubstr("'unix:' needs a path"));
  EXPECT_THAT(ErrorOf("listen: unix-abstract:sb\n"),
              HasSubstr("abstract unix sockets are not supported"));
}

TEST(ListenSettingsTest, ListenFlagReplacesThePrimaryListener) {
  const std::string yaml =
      "listen:\n  port: 6000\n  unix_socket: {path: /tmp/sb.sock, mode: "
      "\"0600\"}\n";
  // host:port: the TCP listener moves, the additional socket stays.
  auto tcp = ParseYaml(yaml, "127.0.0.1:0");
  ASSERT_TRUE(tcp.ok()) << tcp.status();
  EXPECT_THAT(tcp->addresses(),
              ElementsAre("127.0.0.1:0", "unix:/tmp/sb.sock"));
  // unix:/path: the only listener, with the configured mode.
  auto unix_socket = ParseYaml(yaml, "unix:/tmp/other.sock");
  ASSERT_TRUE(unix_socket.ok()) << unix_socket.status();
  EXPECT_THAT(unix_socket->addresses(), ElementsAre("unix:/tmp/other.sock"));
  EXPECT_EQ(unix_socket->unix_socket.mode, 0600u);
  // Over the single-address form and the defaults too.
  auto plain = ParseYaml("listen: 0.0.0.0:1\n", "127.0.0.1:2");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(*plain, ListenSettings::Tcp("127.0.0.1", 2));
  // Errors name the flag.
  EXPECT_THAT(ErrorOf(yaml, "nonsense"),
              HasSubstr("--listen: expected host:port"));
  EXPECT_THAT(
      ErrorOf(yaml, "unix:/no/such/dir/x.sock"),
      HasSubstr("--listen: unix_socket.path: directory '/no/such/dir'"));
}

TEST(ListenSettingsTest, EqualityIgnoresFieldsTheTransportDoesNotUse) {
  ListenSettings a = ListenSettings::Tcp("0.0.0.0", 1);
  ListenSettings b = a;
  b.unix_socket.mode = 0600;  // no socket: irrelevant
  EXPECT_EQ(a, b);
  b.unix_socket.path = "/tmp/x";
  EXPECT_NE(a, b);
  a.unix_socket.path = "/tmp/x";
  EXPECT_NE(a, b);  // mode differs now that there is a socket
  a.unix_socket.mode = 0600;
  EXPECT_EQ(a, b);
}

TEST(ListenSettingsTest, ResolvesGroupsByNameOrNumber) {
  auto own = ResolveGroup(OwnGroupName());
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_EQ(*own, getegid());
  auto numeric = ResolveGroup("12345");
  ASSERT_TRUE(numeric.ok());
  EXPECT_EQ(*numeric, 12345u);
  EXPECT_EQ(ResolveGroup("no-such-group-sb").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace switchboard
