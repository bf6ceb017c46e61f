// What a client, hostile or just broken, can ask of the real service
// binaries (the `limits` section): message size, streams per connection,
// and keepalive both ways, so that a dead peer is noticed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster.h"

namespace switchboard::testing {
namespace {

// Bound on waits for something that must happen: only a service that never
// does it fails on it.
constexpr absl::Duration kWait = absl::Minutes(2);

// HTTP/2 (RFC 9113) frame types and flags this test speaks.
constexpr uint8_t kSettings = 0x4;
constexpr uint8_t kPing = 0x6;
constexpr uint8_t kGoAway = 0x7;
constexpr uint8_t kAck = 0x1;
constexpr uint16_t kSettingsMaxConcurrentStreams = 0x3;

struct Frame {
  uint8_t type = 0;
  uint8_t flags = 0;
  uint32_t stream = 0;
  std::string payload;
};

// A bare HTTP/2 client connection, to see what a gRPC server announces and
// does below the RPC layer: its SETTINGS, its pings, when it hangs up.
class RawHttp2 {
 public:
  // Connects to 127.0.0.1:`port` and sends the client preface and empty
  // SETTINGS. Reads give up after kWait.
  static std::unique_ptr<RawHttp2> Connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(fd);
      return nullptr;
    }
    timeval tv = absl::ToTimeval(kWait);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    auto conn = std::unique_ptr<RawHttp2>(new RawHttp2(fd));
    conn->WriteRaw("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    conn->Write(kSettings, 0, 0, "");
    return conn;
  }
  ~RawHttp2() { close(fd_); }

  void Write(uint8_t type, uint8_t flags, uint32_t stream,
             const std::string& payload) {
    std::string frame;
    const uint32_t n = payload.size();
    frame.push_back(static_cast<char>(n >> 16));
    frame.push_back(static_cast<char>(n >> 8));
    frame.push_back(static_cast<char>(n));
    frame.push_back(static_cast<char>(type));
    frame.push_back(static_cast<char>(flags));
    for (int shift = 24; shift >= 0; shift -= 8) {
      frame.push_back(static_cast<char>((stream >> shift) & 0xff));
    }
    frame += payload;
    WriteRaw(frame);
  }

  // The next frame; nullopt once the server closed the connection (or
  // after kWait without a frame).
  std::optional<Frame> Read() {
    std::string header;
    if (!ReadRaw(9, &header)) return std::nullopt;
    auto byte = [&](int i) { return static_cast<uint8_t>(header[i]); };
    Frame f;
    const uint32_t length = (byte(0) << 16) | (byte(1) << 8) | byte(2);
    f.type = byte(3);
    f.flags = byte(4);
    f.stream =
        ((byte(5) & 0x7f) << 24) | (byte(6) << 16) | (byte(7) << 8) | byte(8);
    if (!ReadRaw(length, &f.payload)) return std::nullopt;
    return f;
  }

  // The server's SETTINGS (acknowledged), by identifier.
  std::map<uint16_t, uint32_t> ServerSettings() {
    std::map<uint16_t, uint32_t> settings;
    while (auto f = Read()) {
      if (f->type != kSettings || (f->flags & kAck)) continue;
      const auto* p = reinterpret_cast<const uint8_t*>(f->payload.data());
      for (size_t i = 0; i + 6 <= f->payload.size(); i += 6) {
        settings[(p[i] << 8) | p[i + 1]] = (uint32_t{p[i + 2]} << 24) |
                                           (p[i + 3] << 16) | (p[i + 4] << 8) |
                                           p[i + 5];
      }
      Write(kSettings, kAck, 0, "");
      break;
    }
    return settings;
  }

 private:
  explicit RawHttp2(int fd) : fd_(fd) {}

  void WriteRaw(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n =
          send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return;
      done += n;
    }
  }
  bool ReadRaw(size_t n, std::string* out) {
    out->resize(n);
    size_t done = 0;
    while (done < n) {
      ssize_t got = recv(fd_, out->data() + done, n - done, 0);
      if (got <= 0) return false;
      done += got;
    }
    return true;
  }

  int fd_;
};

int PortOf(const std::string& address) {
  int port = 0;
  EXPECT_TRUE(absl::SimpleAtoi(address.substr(address.rfind(':') + 1), &port))
      << address;
  return port;
}

// One PublishRequest of `n` events of `bytes` payload each.
std::vector<switchboard::v1::Event> Events(int n, size_t bytes) {
  return MakeEvents("limits/test", "limits.test", n, bytes);
}

// The default, 4 MiB: a 5 MiB batch of events each under max_event_bytes
// (1 MiB) is refused whole, before the broadcaster reads it.
TEST(LimitsEndToEndTest, ARequestOverFourMebibytesIsResourceExhausted) {
  auto cluster = Cluster::Start({});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  auto big = Publish((*cluster)->broadcaster_address(), Events(6, 900 << 10),
                     /*per_batch=*/6);
  EXPECT_EQ(big.status().code(), absl::StatusCode::kResourceExhausted)
      << big.status();
  EXPECT_THAT(std::string(big.status().message()),
              ::testing::HasSubstr("larger than max"));
  // 3 MB goes through.
  auto fits = Publish((*cluster)->broadcaster_address(), Events(3, 1000 << 10),
                      /*per_batch=*/3);
  ASSERT_TRUE(fits.ok()) << fits.status();
  EXPECT_EQ((*fits)[0].accepted(), 3u);
}

// Configured per service: this consumer takes 64 KiB. An ack of 30,000 tags
// is about 90 KB.
TEST(LimitsEndToEndTest, TheReceiveLimitIsConfigurable) {
  Cluster::Options options;
  options.consumer_yaml +=
      "limits:\n"
      "  max_receive_message_bytes: 65536\n";
  auto cluster = Cluster::Start(options);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  auto stub = switchboard::v1::Consumer::NewStub(grpc::CreateChannel(
      (*cluster)->consumer_address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
  auto stream = stub->Subscribe(&context);
  switchboard::v1::SubscribeRequest open;
  open.mutable_open()->add_queues("verbose");
  ASSERT_TRUE(stream->Write(open));
  switchboard::v1::SubscribeRequest ack;
  for (uint64_t tag = 1 << 20; tag < (1 << 20) + 30000; ++tag) {
    ack.mutable_ack()->add_tags(tag);
  }
  ASSERT_GT(ack.ByteSizeLong(), 65536u);
  stream->Write(ack);
  stream->WritesDone();
  switchboard::v1::SubscribeResponse response;
  while (stream->Read(&response)) {
  }
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << status.error_message();
}

uint32_t AnnouncedStreams(const std::string& address) {
  auto conn = RawHttp2::Connect(PortOf(address));
  EXPECT_NE(conn, nullptr) << address;
  if (conn == nullptr) return 0;
  auto settings = conn->ServerSettings();
  EXPECT_TRUE(settings.count(kSettingsMaxConcurrentStreams))
      << address << " announces no stream limit";
  return settings[kSettingsMaxConcurrentStreams];
}

TEST(LimitsEndToEndTest, ServersAnnounceTheirConcurrentStreamLimit) {
  auto cluster = Cluster::Start({});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  EXPECT_EQ(AnnouncedStreams((*cluster)->broadcaster_address()), 100u);
  EXPECT_EQ(AnnouncedStreams((*cluster)->consumer_address()), 100u);
  // The consumer carries all its subscriptions on one connection.
  EXPECT_EQ(AnnouncedStreams((*cluster)->bridge_address()), 10000u);
}

TEST(LimitsEndToEndTest, TheConcurrentStreamLimitIsConfigurable) {
  Cluster::Options options;
  options.consumer_yaml +=
      "limits:\n"
      "  max_concurrent_streams: 7\n";
  auto cluster = Cluster::Start(options);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  EXPECT_EQ(AnnouncedStreams((*cluster)->consumer_address()), 7u);
}

// A client that stopped answering (its host died, it is frozen) is pinged
// and then disconnected, even with no call open.
TEST(LimitsEndToEndTest, AServerDropsAClientThatDoesNotAnswerPings) {
  Cluster::Options options;
  options.broadcaster_yaml +=
      "limits:\n"
      "  keepalive_time: 1s\n"
      "  keepalive_timeout: 1s\n";
  auto cluster = Cluster::Start(options);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  auto conn = RawHttp2::Connect(PortOf((*cluster)->broadcaster_address()));
  ASSERT_NE(conn, nullptr);
  conn->ServerSettings();
  bool pinged = false;
  bool closed = false;
  // Never answer: read until the server hangs up (GOAWAY, then EOF).
  for (;;) {
    auto f = conn->Read();
    if (!f.has_value()) {
      closed = true;
      break;
    }
    if (f->type == kPing && !(f->flags & kAck)) pinged = true;
    if (f->type == kGoAway) {
      closed = true;
      break;
    }
  }
  EXPECT_TRUE(pinged);
  EXPECT_TRUE(closed);
}

// Clients' keepalive pings, with no call open, are welcome as often as
// every second (gRPC's default would answer the third with GOAWAY
// too_many_pings).
TEST(LimitsEndToEndTest, ClientsMayPingEverySecond) {
  auto cluster = Cluster::Start({});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  auto conn = RawHttp2::Connect(PortOf((*cluster)->bridge_address()));
  ASSERT_NE(conn, nullptr);
  conn->ServerSettings();
  for (int i = 0; i < 5; ++i) {
    // The interval is what is being tested: pings 1.1 s apart.
    if (i > 0) absl::SleepFor(absl::Milliseconds(1100));
    const std::string opaque(8, static_cast<char>('a' + i));
    conn->Write(kPing, 0, 0, opaque);
    std::optional<Frame> f;
    while ((f = conn->Read()).has_value()) {
      ASSERT_NE(f->type, kGoAway) << "ping " << i << " refused";
      if (f->type == kPing && (f->flags & kAck) && f->payload == opaque) break;
    }
    ASSERT_TRUE(f.has_value()) << "connection closed at ping " << i;
  }
}

// The consumer's channel to the bridge pings it: subscriptions end
// (UNAVAILABLE, so apps subscribe again) when the bridge stops answering
// without closing its connections (SIGSTOP stands for a dead host).
TEST(LimitsEndToEndTest, ConsumerNoticesAFrozenBridge) {
  Cluster::Options options;
  options.consumer_yaml +=
      "limits:\n"
      "  keepalive_time: 1s\n"
      "  keepalive_timeout: 1s\n";
  auto cluster = Cluster::Start(options);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  ASSERT_TRUE(Publish((*cluster)->broadcaster_address(), Events(1, 64)).ok());
  ASSERT_TRUE((*cluster)->AwaitDepth("verbose", 1));
  auto app = Subscriber::Open((*cluster)->consumer_address(), {"verbose"}, 10,
                              /*auto_ack=*/false);
  ASSERT_TRUE(app.ok()) << app.status();
  ASSERT_EQ((*app)->WaitFor(1, kWait).size(), 1u);

  (*cluster)->bridge().Signal(SIGSTOP);
  grpc::Status ended = (*app)->Wait(kWait);
  (*cluster)->bridge().Signal(SIGCONT);
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAVAILABLE)
      << ended.error_code() << " " << ended.error_message();
}

// The broadcaster's stream to the bridge is pinged too (every 20 s, 10 s to
// answer): a frozen bridge is noticed in about 30 s and the broadcaster
// buffers and reconnects.
TEST(LimitsEndToEndTest, BroadcasterNoticesAFrozenBridge) {
  auto cluster = Cluster::Start({});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  auto connected = [&] {
    auto stats = GetBroadcasterStats((*cluster)->broadcaster_address());
    return stats.ok() && stats->bridge_connected();
  };
  ASSERT_TRUE(Eventually(connected, kWait));
  (*cluster)->bridge().Signal(SIGSTOP);
  const bool noticed = Eventually([&] { return !connected(); }, kWait);
  (*cluster)->bridge().Signal(SIGCONT);
  EXPECT_TRUE(noticed) << (*cluster)->Log("broadcaster");
}

}  // namespace
}  // namespace switchboard::testing
