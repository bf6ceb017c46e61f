#include "services/common/listen_settings.h"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard {
namespace {

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

// A short directory for sockets (sun_path holds 107 bytes; TEST_TMPDIR can
// be long).
class SocketDir {
 public:
  SocketDir() {
    char name[] = "/tmp/sb-listen-XXXXXX";
    path_ = mkdtemp(name);
  }
  ~SocketDir() { std::system(("rm -rf " + path_).c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A bound unix socket at `path`; listening if `listen`. Returns the fd.
int BindSocket(const std::string& path, bool listen) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0)
      << std::strerror(errno);
  if (listen) EXPECT_EQ(::listen(fd, 4), 0);
  return fd;
}

std::string OwnGroupName() {
  struct group* g = getgrgid(getegid());
  return g == nullptr ? std::to_string(getegid()) : g->gr_name;
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

TEST(SocketFileTest, NothingThereIsFine) {
  SocketDir dir;
  auto removed = RemoveStaleSocket(dir.path() + "/absent.sock");
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_FALSE(*removed);
}

TEST(SocketFileTest, RemovesAStaleSocket) {
  SocketDir dir;
  std::string path = dir.path() + "/stale.sock";
  close(BindSocket(path, /*listen=*/true));  // the "process" died
  auto removed = RemoveStaleSocket(path);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_TRUE(*removed);
  EXPECT_NE(access(path.c_str(), F_OK), 0);
}

TEST(SocketFileTest, RefusesALiveSocket) {
  SocketDir dir;
  std::string path = dir.path() + "/live.sock";
  int fd = BindSocket(path, /*listen=*/true);
  auto removed = RemoveStaleSocket(path);
  EXPECT_EQ(removed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(removed.status().message()),
              HasSubstr("a running server already listens on unix socket '" +
                        path + "'"));
  EXPECT_EQ(access(path.c_str(), F_OK), 0);
  close(fd);
}

TEST(SocketFileTest, NeverRemovesAnotherKindOfFile) {
  SocketDir dir;
  std::string path = dir.path() + "/data.txt";
  std::ofstream(path) << "precious\n";
  auto removed = RemoveStaleSocket(path);
  EXPECT_EQ(removed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(removed.status().message()),
              HasSubstr("unix socket path '" + path +
                        "' exists and is a regular file, not a socket; "
                        "refusing to replace it"));
  EXPECT_EQ(access(path.c_str(), F_OK), 0);

  std::string link = dir.path() + "/link.sock";
  ASSERT_EQ(symlink(path.c_str(), link.c_str()), 0);
  EXPECT_THAT(std::string(RemoveStaleSocket(link).status().message()),
              HasSubstr("is a symbolic link"));
}

TEST(SocketFileTest, AppliesModeAndGroupAndRemovesOnlyItsOwnSocket) {
  SocketDir dir;
  UnixSocketSettings settings;
  settings.path = dir.path() + "/sb.sock";
  settings.mode = 0620;
  settings.group = OwnGroupName();
  int fd = BindSocket(settings.path, /*listen=*/true);
  ASSERT_TRUE(ApplySocketPermissions(settings).ok());
  struct stat st;
  ASSERT_EQ(stat(settings.path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0620u);
  EXPECT_EQ(st.st_gid, getegid());

  SocketFileId id = IdentifySocket(settings.path);
  EXPECT_NE(id.ino, 0u);
  close(fd);
  // Another server took the path over: its socket stays.
  unlink(settings.path.c_str());
  int other = BindSocket(settings.path, /*listen=*/true);
  SocketFileId other_id = IdentifySocket(settings.path);
  if (other_id.ino != id.ino) {
    RemoveSocketIfSame(settings.path, id);
    EXPECT_EQ(access(settings.path.c_str(), F_OK), 0);
  }
  RemoveSocketIfSame(settings.path, other_id);
  EXPECT_NE(access(settings.path.c_str(), F_OK), 0);
  close(other);

  // Missing file: a clear error naming the path.
  absl::Status gone = ApplySocketPermissions(settings);
  EXPECT_THAT(std::string(gone.message()),
              HasSubstr("unix socket '" + settings.path +
                        "' is not there after binding"));
}

}  // namespace
}  // namespace switchboard
