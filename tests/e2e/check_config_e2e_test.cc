// `--check_config` on the real binaries: the shipped examples are "ok", a
// config with errors in several sections lists each (naming its field), and
// a valid config is checked without binding, connecting or opening what it
// names (the Helm chart's check and an init container rely on that).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/process.h"

namespace switchboard::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kWait = absl::Minutes(1);

struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `binary --check_config` with `config` (written to a file) and waits
// for it to exit.
Outcome Check(const std::string& binary, const std::string& config_path,
              std::vector<std::string> extra = {}) {
  const std::string dir = NewTempDir("check");
  Process::Options options;
  options.stdout_path = dir + "/out";
  options.stderr_path = dir + "/err";
  std::vector<std::string> args = {"--check_config"};
  if (!config_path.empty()) args.push_back("--config=" + config_path);
  args.insert(args.end(), extra.begin(), extra.end());
  auto process = Process::Start(Runfile(binary), args, options);
  EXPECT_TRUE(process.ok()) << process.status();
  Outcome outcome;
  if (!process.ok()) return outcome;
  auto code = (*process)->Wait(kWait);
  EXPECT_TRUE(code.has_value()) << binary << " --check_config did not exit";
  outcome.exit_code = code.value_or(-1);
  outcome.out = ReadFile(dir + "/out");
  outcome.err = ReadFile(dir + "/err");
  return outcome;
}

std::string ConfigFile(const std::string& text) {
  const std::string path = NewTempDir("config") + "/config.yaml";
  WriteFile(path, text);
  return path;
}

// A loopback TCP socket listening on a free port: nobody should connect.
class Listener {
 public:
  Listener() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~Listener() { close(fd_); }
  int port() const { return port_; }
  // Whether a connection is waiting to be accepted.
  bool Connected() {
    int conn = accept(fd_, nullptr, nullptr);
    if (conn < 0) {
      EXPECT_EQ(errno, EAGAIN);
      return false;
    }
    close(conn);
    return true;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

const char* const kBroadcaster = "services/broadcaster/broadcaster";
const char* const kConsumer = "services/consumer/consumer";
const char* const kBridge = "services/mq-bridge/mq-bridge";

TEST(CheckConfigTest, TheShippedExamplesAreOk) {
  for (const auto& [binary, config] :
       std::vector<std::pair<std::string, std::string>>{
           {kBroadcaster, "config/broadcaster.yaml"},
           {kConsumer, "config/consumer.yaml"},
           {kBridge, "config/bridge.yaml"}}) {
    SCOPED_TRACE(config);
    Outcome o = Check(binary, Runfile(config));
    EXPECT_EQ(o.exit_code, 0) << o.err;
    EXPECT_THAT(o.out, HasSubstr("ok"));
    EXPECT_EQ(o.err, "");
  }
}

TEST(CheckConfigTest, NoConfigChecksTheDefaults) {
  Outcome o = Check(kConsumer, "");
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_THAT(o.out, HasSubstr("ok (consumer)"));
}

TEST(CheckConfigTest, EachBrokenSectionIsNamed) {
  Outcome o = Check(kBroadcaster, ConfigFile(R"(
limits:
  keepalive_time: soon
tls:
  cert_file: /nonexistent/cert.pem
  key_file: /nonexistent/key.pem
buffer:
  max_evnets: 10
)"));
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_THAT(o.err, HasSubstr("limits.keepalive_time"));
  EXPECT_THAT(o.err, HasSubstr("tls.cert_file"));
  EXPECT_THAT(o.err, HasSubstr("max_evnets"));
  EXPECT_THAT(o.out, Not(HasSubstr("ok")));
}

TEST(CheckConfigTest, AnUnreadableFileIsNamed) {
  Outcome o = Check(kBridge, "/nonexistent/bridge.yaml");
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_THAT(o.err, HasSubstr("/nonexistent/bridge.yaml"));
}

TEST(CheckConfigTest, AnUnknownDriverIsNamed) {
  Outcome o = Check(kBridge, ConfigFile("transport: {driver: kafka}\n"));
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_THAT(o.err, HasSubstr("transport.driver"));
  EXPECT_THAT(o.err, HasSubstr("unknown transport driver 'kafka'"));
}

TEST(CheckConfigTest, TheChosenDriversSettingsAreChecked) {
  Outcome o = Check(kBridge, ConfigFile(R"(
transport:
  driver: rabbitmq
  rabbitmq: {queue_type: stream}
)"));
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_THAT(o.err, HasSubstr("queue_type"));
}

// Without --check_config the rabbitmq driver connects at start (a wrong
// address is a start-up error); the check must not.
TEST(CheckConfigTest, TheRabbitMqDriverIsCheckedWithoutConnecting) {
  Listener broker;
  Outcome o = Check(kBridge, ConfigFile(absl::StrCat(R"(
transport:
  driver: rabbitmq
  rabbitmq: {host: 127.0.0.1, port: )",
                                                     broker.port(), "}\n")));
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_FALSE(broker.Connected());
}

// The zeromq driver binds at start; a port already taken would fail it.
TEST(CheckConfigTest, TheZeroMqDriverIsCheckedWithoutBinding) {
  Listener taken;
  Outcome o = Check(kBridge, ConfigFile(absl::StrCat(R"(
transport:
  driver: zeromq
  zeromq: {bind: "tcp://127.0.0.1:)",
                                                     taken.port(), "\"}\n")));
  EXPECT_EQ(o.exit_code, 0) << o.err;
}

TEST(CheckConfigTest, NothingIsBoundOrOpened) {
  const std::string dir = NewTempDir("unopened");
  Listener taken;
  Outcome o =
      Check(kBroadcaster,
            ConfigFile(absl::StrCat(
                "listen: 127.0.0.1:", taken.port(),
                "\nbuffer:\n  type: disk\n  disk: {path: ", dir, "/log}\n")));
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(access((dir + "/log").c_str(), F_OK), -1)
      << "the disk buffer was created";
}

}  // namespace
}  // namespace switchboard::testing
