#include "services/broadcaster/disk_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace switchboard::broadcaster {
namespace {

using switchboard::v1::RoutedEvent;

std::string FreshDir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/disk_log_test/", name);
  std::filesystem::remove_all(dir);
  return dir;
}

DiskLog::Options Options(const std::string& dir) {
  DiskLog::Options o;
  o.path = dir;
  o.cost = [](const RoutedEvent& e) { return e.event().size(); };
  return o;
}

std::vector<RoutedEvent> Events(int from, int n) {
  std::vector<RoutedEvent> events(n);
  for (int i = 0; i < n; ++i) {
    events[i].set_id(absl::StrCat("e", from + i));
    events[i].set_event(std::string(100, 'x'));
    events[i].add_queues("verbose");
  }
  return events;
}

std::unique_ptr<DiskLog> MustOpen(const DiskLog::Options& options) {
  auto log = DiskLog::Open(options);
  EXPECT_TRUE(log.ok()) << log.status();
  return log.ok() ? *std::move(log) : nullptr;
}

// Reads every unread record's id.
std::vector<std::string> ReadAll(DiskLog& log, std::vector<uint64_t>* seqs) {
  std::vector<std::string> ids;
  DiskLog::Record r;
  for (;;) {
    absl::StatusOr<bool> next = log.Next(&r);
    EXPECT_TRUE(next.ok()) << next.status();
    if (!next.ok() || !*next) break;
    ids.push_back(r.event.id());
    if (seqs != nullptr) seqs->push_back(r.seq);
  }
  return ids;
}

std::vector<std::string> Ids(int from, int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back(absl::StrCat("e", from + i));
  return ids;
}

std::vector<std::string> Segments(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".seg") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(DiskLogTest, WhatIsNotSettledIsReadAgainAfterAReopen) {
  const std::string dir = FreshDir("reopen");
  {
    auto log = MustOpen(Options(dir));
    ASSERT_NE(log, nullptr);
    ASSERT_TRUE(log->Append(Events(0, 10)).ok());
    ASSERT_TRUE(log->Commit().ok());
    EXPECT_EQ(log->unread(), 10u);
    std::vector<uint64_t> seqs;
    EXPECT_EQ(ReadAll(*log, &seqs), Ids(0, 10));
    // The first four are confirmed, and the seventh: the checkpoint stops
    // at the first unsettled one (e4).
    for (int i : {0, 1, 2, 3, 6}) log->Settle(seqs[i]);
    EXPECT_EQ(log->low(), seqs[4]);
  }
  auto log = MustOpen(Options(dir));
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->recovery().events, 6u);
  EXPECT_EQ(log->recovery().cost, 600u);
  EXPECT_EQ(log->recovery().lost_records, 0u);
  // At least once: e6, settled after the checkpoint's point, comes again.
  EXPECT_EQ(ReadAll(*log, nullptr), Ids(4, 6));
  // New records continue the numbering.
  ASSERT_TRUE(log->Append(Events(10, 1)).ok());
  EXPECT_EQ(ReadAll(*log, nullptr), Ids(10, 1));
}

TEST(DiskLogTest, ATornTailIsTruncatedCountedAndNeverRead) {
  const std::string dir = FreshDir("torn");
  {
    auto log = MustOpen(Options(dir));
    ASSERT_NE(log, nullptr);
    ASSERT_TRUE(log->Append(Events(0, 3)).ok());
  }
  // A crash in the middle of a write: half a header.
  const std::vector<std::string> segments = Segments(dir);
  ASSERT_FALSE(segments.empty());
  std::string last;
  for (const std::string& s : segments) {
    if (std::filesystem::file_size(s) > 0) last = s;
  }
  ASSERT_FALSE(last.empty());
  const auto size = std::filesystem::file_size(last);
  {
    std::ofstream out(last, std::ios::app | std::ios::binary);
    out << std::string("\x40\x00\x00", 3);
  }
  auto log = MustOpen(Options(dir));
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->recovery().events, 3u);
  EXPECT_EQ(log->recovery().lost_records, 1u);
  EXPECT_EQ(log->recovery().lost_bytes, 3u);
  EXPECT_EQ(std::filesystem::file_size(last), size);
  EXPECT_EQ(ReadAll(*log, nullptr), Ids(0, 3));
}

TEST(DiskLogTest, ACorruptRecordEndsItsSegmentAndIsNeverDeliveredCorrupt) {
  const std::string dir = FreshDir("corrupt");
  {
    auto log = MustOpen(Options(dir));
    ASSERT_NE(log, nullptr);
    ASSERT_TRUE(log->Append(Events(0, 3)).ok());
  }
  std::string target;
  for (const std::string& s : Segments(dir)) {
    if (std::filesystem::file_size(s) > 0) target = s;
  }
  ASSERT_FALSE(target.empty());
  // One byte of the second record's payload (each record: 16-byte header
  // and a payload of the same size).
  const auto record = std::filesystem::file_size(target) / 3;
  {
    std::fstream f(target, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(record + 40));
    f.put('!');
  }
  auto log = MustOpen(Options(dir));
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->recovery().events, 1u);
  EXPECT_EQ(log->recovery().lost_records, 1u);
  EXPECT_EQ(log->recovery().lost_bytes, 2 * record);
  EXPECT_EQ(ReadAll(*log, nullptr), Ids(0, 1));
}

TEST(DiskLogTest, SegmentsRotateAndGoOnceAllTheirRecordsAreSettled) {
  const std::string dir = FreshDir("rotate");
  DiskLog::Options options = Options(dir);
  options.segment_bytes = 2048;
  auto log = MustOpen(options);
  ASSERT_NE(log, nullptr);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(log->Append(Events(i * 10, 10)).ok());
  EXPECT_GT(log->segments(), 3u);
  std::vector<uint64_t> seqs;
  EXPECT_EQ(ReadAll(*log, &seqs).size(), 100u);
  for (size_t i = 0; i < 50; ++i) log->Settle(seqs[i]);
  ASSERT_TRUE(log->Checkpoint().ok());
  const size_t half = Segments(dir).size();
  for (size_t i = 50; i < 100; ++i) log->Settle(seqs[i]);
  ASSERT_TRUE(log->Checkpoint().ok());
  EXPECT_LT(Segments(dir).size(), half);
  EXPECT_EQ(Segments(dir).size(), log->segments());
  log.reset();
  auto again = MustOpen(options);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->recovery().events, 0u);
  EXPECT_EQ(again->unread(), 0u);
}

TEST(DiskLogTest, BadSettingsAndUnwritableDirectoriesAreClearErrors) {
  EXPECT_EQ(ParseFsyncPolicy("sometimes").status().code(),
            absl::StatusCode::kInvalidArgument);
  DiskLog::Options options;
  options.path = "/proc/switchboard-cannot-be-here";
  auto log = DiskLog::Open(options);
  EXPECT_FALSE(log.ok());
  EXPECT_NE(log.status().message().find("/proc/switchboard-cannot-be-here"),
            absl::string_view::npos)
      << log.status();
}

}  // namespace
}  // namespace switchboard::broadcaster
