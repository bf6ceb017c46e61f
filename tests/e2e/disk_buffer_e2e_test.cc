// The broadcaster's disk buffer through the real service binaries on
// loopback: kill -9 of the broadcaster while the bridge is down, a torn
// tail, and what the memory buffer loses in the same case.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster.h"

namespace switchboard::testing {
namespace {

using ::testing::HasSubstr;

Cluster::Options DiskBuffer(const std::string& dir) {
  Cluster::Options options;
  options.broadcaster_yaml +=
      absl::StrCat("buffer:\n  type: disk\n  disk:\n    path: ", dir,
                   "\n    fsync: batch\n");
  return options;
}

// Stops the bridge, publishes `n` events that are all accepted (so held in
// the broadcaster's buffer only), then kills the broadcaster with -9.
void AcceptThenKill(Cluster& cluster, int n) {
  cluster.bridge().Signal(SIGKILL);
  cluster.bridge().Wait(absl::Seconds(10));
  auto answers = Publish(cluster.broadcaster_address(),
                         MakeEvents("kytos/topology", "t", n), 100);
  ASSERT_TRUE(answers.ok()) << answers.status();
  uint32_t accepted = 0;
  for (const auto& a : *answers) accepted += a.accepted();
  ASSERT_EQ(accepted, static_cast<uint32_t>(n));
  cluster.broadcaster().Signal(SIGKILL);
  cluster.broadcaster().Wait(absl::Seconds(10));
}

TEST(DiskBufferTest, ABroadcasterKilledWithMinus9LosesNothingItAccepted) {
  const std::string dir = NewTempDir("disk-buffer-kill9");
  auto cluster = Cluster::Start(DiskBuffer(dir));
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  AcceptThenKill(**cluster, 3000);
  ASSERT_TRUE((*cluster)->StartBridge().ok());  // empty memory transport
  ASSERT_TRUE((*cluster)->StartBroadcaster().ok());
  EXPECT_TRUE((*cluster)->AwaitDepth("app.kytos.topology", 3000));
  EXPECT_EQ((*cluster)->QueueDepth("verbose"), 3000u);
  EXPECT_THAT((*cluster)->Log("broadcaster"),
              HasSubstr("3000 events held before the stop are forwarded"));
  auto stats = GetBroadcasterStats((*cluster)->broadcaster_address());
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_TRUE(Eventually([&] {
    stats = GetBroadcasterStats((*cluster)->broadcaster_address());
    return stats.ok() && stats->buffered() == 0;
  }));
}

// A write cut short by the crash: the torn record is cut off and counted;
// everything before it is forwarded, nothing corrupt is.
TEST(DiskBufferTest, ATornTailIsTruncatedAndTheRestForwarded) {
  const std::string dir = NewTempDir("disk-buffer-torn");
  auto cluster = Cluster::Start(DiskBuffer(dir));
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  AcceptThenKill(**cluster, 500);
  std::string last;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".seg" &&
        std::filesystem::file_size(e.path()) > 0 && e.path().string() > last) {
      last = e.path().string();
    }
  }
  ASSERT_FALSE(last.empty());
  {
    std::ofstream out(last, std::ios::app | std::ios::binary);
    out << std::string(20, '\x7f');  // a header and a bit, then nothing
  }
  ASSERT_TRUE((*cluster)->StartBridge().ok());
  ASSERT_TRUE((*cluster)->StartBroadcaster().ok());
  EXPECT_TRUE((*cluster)->AwaitDepth("verbose", 500));
  EXPECT_THAT((*cluster)->Log("broadcaster"), HasSubstr("torn record"));
  EXPECT_THAT((*cluster)->Log("broadcaster"),
              HasSubstr("20 bytes of torn or corrupt records truncated"));
}

// What the README says of the memory buffer: accepted means in memory, and
// a kill -9 of the broadcaster loses it.
TEST(DiskBufferTest, TheMemoryBufferLosesWhatItHeldOnAKillMinus9) {
  auto cluster = Cluster::Start({});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  AcceptThenKill(**cluster, 500);
  ASSERT_TRUE((*cluster)->StartBridge().ok());
  ASSERT_TRUE((*cluster)->StartBroadcaster().ok());
  // The restarted broadcaster declares verbose: then it has what it has.
  ASSERT_TRUE(Eventually(
      [&] { return (*cluster)->QueueDepth("verbose") != Cluster::kNoQueue; }));
  EXPECT_EQ((*cluster)->QueueDepth("verbose"), 0u);
}

TEST(DiskBufferTest, AnUnusableDirectoryStopsTheBroadcasterNamingTheField) {
  Cluster::Options options = DiskBuffer("/proc/switchboard-not-here");
  auto cluster = Cluster::Start(options);
  ASSERT_FALSE(cluster.ok());
  EXPECT_THAT(std::string(cluster.status().message()),
              HasSubstr("buffer.disk: disk buffer: cannot create "
                        "/proc/switchboard-not-here"));
}

}  // namespace
}  // namespace switchboard::testing
