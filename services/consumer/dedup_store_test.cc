#include "services/consumer/dedup_store.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/consumer/dedup_window.h"

namespace switchboard::consumer {
namespace {

using Key = DedupStore::Key;

std::string NewDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(base ? base : "/tmp", "/", name);
  mkdir(dir.c_str(), 0755);
  std::remove((dir + "/dedup.log").c_str());
  return dir;
}

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void Write(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

Key K(uint64_t i) { return {i, i * 7 + 1}; }

std::unique_ptr<DedupStore> MustOpen(const std::string& dir, size_t window) {
  auto store = DedupStore::Open(dir, window);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

TEST(DedupStoreTest, WhatIsFlushedIsLoadedAgain) {
  const std::string dir = NewDir("roundtrip");
  {
    auto store = MustOpen(dir, 100);
    ASSERT_NE(store, nullptr);
    for (uint64_t i = 1; i <= 3; ++i) store->Append("app.a", K(i));
    store->Append("verbose", K(9));
    ASSERT_TRUE(store->Flush().ok());
  }
  auto store = MustOpen(dir, 100);
  ASSERT_NE(store, nullptr);
  auto loaded = store->Loaded();
  EXPECT_EQ(loaded["app.a"], (std::vector<Key>{K(1), K(2), K(3)}));
  EXPECT_EQ(loaded["verbose"], std::vector<Key>{K(9)});
  EXPECT_EQ(store->stats().loaded, 4u);
  EXPECT_EQ(store->stats().torn_tails, 0u);
}

TEST(DedupStoreTest, TornTailIsCountedAndTruncated) {
  const std::string dir = NewDir("torn");
  const std::string good =
      EncodeDedupRecord("q", K(1)) + EncodeDedupRecord("q", K(2));
  const std::string third = EncodeDedupRecord("q", K(3));
  Write(dir + "/dedup.log", good + third.substr(0, third.size() - 5));
  {
    auto store = MustOpen(dir, 100);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->Loaded()["q"], (std::vector<Key>{K(1), K(2)}));
    EXPECT_EQ(store->stats().torn_tails, 1u);
    EXPECT_EQ(store->stats().corrupt_records, 0u);
    EXPECT_EQ(Read(dir + "/dedup.log"), good) << "not truncated";
    // Appends go after the good records, not after the torn bytes.
    store->Append("q", K(4));
    ASSERT_TRUE(store->Flush().ok());
  }
  auto store = MustOpen(dir, 100);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Loaded()["q"], (std::vector<Key>{K(1), K(2), K(4)}));
  EXPECT_EQ(store->stats().torn_tails, 0u);
}

TEST(DedupStoreTest, CorruptRecordEndsTheLogThere) {
  const std::string dir = NewDir("corrupt");
  const std::string first = EncodeDedupRecord("q", K(1));
  std::string second = EncodeDedupRecord("q", K(2));
  second[second.size() - 3] ^= 0x40;  // a bit flipped in the key
  Write(dir + "/dedup.log", first + second + EncodeDedupRecord("q", K(3)));
  auto store = MustOpen(dir, 100);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Loaded()["q"], std::vector<Key>{K(1)});
  EXPECT_EQ(store->stats().corrupt_records, 1u);
  EXPECT_EQ(Read(dir + "/dedup.log"), first);
}

TEST(DedupStoreTest, GarbageLengthIsCorruptNotAHugeRead) {
  const std::string dir = NewDir("garbage");
  Write(dir + "/dedup.log",
        std::string("\xff\xff\xff\x7f\0\0\0\0", 8) + std::string(64, 'x'));
  auto store = MustOpen(dir, 100);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->stats().corrupt_records, 1u);
  EXPECT_EQ(Read(dir + "/dedup.log"), "");
}

TEST(DedupStoreTest, CompactionKeepsTheFileWithinTwiceTheWindow) {
  const std::string dir = NewDir("bound");
  const size_t record = EncodeDedupRecord("q", K(0)).size();
  {
    auto store = MustOpen(dir, 10);
    ASSERT_NE(store, nullptr);
    for (uint64_t i = 0; i < 1000; ++i) {
      store->Append("q", K(i));
      ASSERT_TRUE(store->Flush().ok());
      ASSERT_LE(Read(dir + "/dedup.log").size(), 2 * 10 * record) << i;
    }
    EXPECT_GE(store->stats().compactions, 40u);
  }
  auto store = MustOpen(dir, 10);
  ASSERT_NE(store, nullptr);
  std::vector<Key> last;
  for (uint64_t i = 990; i < 1000; ++i) last.push_back(K(i));
  EXPECT_EQ(store->Loaded()["q"], last);
}

TEST(DedupStoreTest, WindowsRememberAckedIdsAcrossARestart) {
  const std::string dir = NewDir("windows");
  const DedupWindow::Key a = DedupWindow::KeyOf("event-a");
  const DedupWindow::Key b = DedupWindow::KeyOf("event-b");
  {
    DedupWindows windows(100, MustOpen(dir, 100));
    DedupWindow* w = windows.For("app.a");
    ASSERT_EQ(w->Admit(a), DedupWindow::Admission::kAdmitted);
    ASSERT_EQ(w->Admit(b), DedupWindow::Admission::kAdmitted);
    w->Done(a);     // acked
    w->Release(b);  // given back unacked
    ASSERT_TRUE(windows.Flush().ok());
  }
  DedupWindows windows(100, MustOpen(dir, 100));
  DedupWindow* w = windows.For("app.a");
  EXPECT_EQ(w->Admit(a), DedupWindow::Admission::kSeen)
      << "an acked id was forgotten by the restart";
  EXPECT_EQ(w->Admit(b), DedupWindow::Admission::kAdmitted);
  EXPECT_EQ(windows.For("app.other")->Admit(a),
            DedupWindow::Admission::kAdmitted)
      << "per queue";
}

}  // namespace
}  // namespace switchboard::consumer
