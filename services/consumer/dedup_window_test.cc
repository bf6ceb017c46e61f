#include "services/consumer/dedup_window.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace switchboard::consumer {
namespace {

constexpr auto kAdmitted = DedupWindow::Admission::kAdmitted;
constexpr auto kSeen = DedupWindow::Admission::kSeen;
constexpr auto kInFlight = DedupWindow::Admission::kInFlight;

TEST(DedupWindowTest, CopiesOfInFlightAndAckedEventsAreRefused) {
  DedupWindow w(10);
  EXPECT_EQ(w.Admit(DedupWindow::KeyOf("a")), kAdmitted);
  // A copy while an app holds it.
  EXPECT_EQ(w.Admit(DedupWindow::KeyOf("a")), kInFlight);
  w.Done(DedupWindow::KeyOf("a"));
  // A copy after the app acked it.
  EXPECT_EQ(w.Admit(DedupWindow::KeyOf("a")), kSeen);
  EXPECT_EQ(w.Admit(DedupWindow::KeyOf("b")), kAdmitted);
}

TEST(DedupWindowTest, ReleasedEventsAreAdmittedAgain) {
  DedupWindow w(10);
  EXPECT_EQ(w.Admit(DedupWindow::KeyOf("a")), kAdmitted);
  w.Release(DedupWindow::KeyOf("a"));  // went back to the queue unacked
  EXPECT_EQ(w.Admit(DedupWindow::KeyOf("a")), kAdmitted);
}

TEST(DedupWindowTest, RemembersOnlyTheLastCapacityAckedIds) {
  DedupWindow w(2);
  for (const char* id : {"a", "b", "c"}) {
    ASSERT_EQ(w.Admit(DedupWindow::KeyOf(id)), kAdmitted);
    w.Done(DedupWindow::KeyOf(id));
  }
  EXPECT_EQ(w.Admit(DedupWindow::KeyOf("a")), kAdmitted);  // forgotten
  EXPECT_EQ(w.Admit(DedupWindow::KeyOf("b")), kSeen);
  EXPECT_EQ(w.Admit(DedupWindow::KeyOf("c")), kSeen);
}

TEST(DedupWindowTest, EventsWithoutIdsAreNeverDropped) {
  DedupWindow w(2);
  EXPECT_EQ(w.Admit(DedupWindow::KeyOf("")), kAdmitted);
  w.Done(DedupWindow::KeyOf(""));
  EXPECT_EQ(w.Admit(DedupWindow::KeyOf("")), kAdmitted);
}

// The batch calls decide as the single-key calls would, in order: a key
// twice in one batch is in flight the second time.
TEST(DedupWindowTest, BatchCallsActAsTheSingleCallsInOrder) {
  using Key = DedupWindow::Key;
  DedupWindow w(10);
  w.Done(DedupWindow::KeyOf("acked"));
  const std::vector<Key> keys = {
      DedupWindow::KeyOf("new"), DedupWindow::KeyOf("acked"),
      DedupWindow::KeyOf("new"), DedupWindow::KeyOf(""),
      DedupWindow::KeyOf("other")};
  std::vector<DedupWindow::Admission> out = {kSeen};  // appended to
  w.AdmitAll(keys, &out);
  EXPECT_EQ(out,
            (std::vector<DedupWindow::Admission>{
                kSeen, kAdmitted, kSeen, kInFlight, kAdmitted, kAdmitted}));
  // "new" acked, "other" back to its queue.
  SettledKeys settled;
  settled.Add(&w, DedupWindow::KeyOf("new"), /*release=*/false);
  settled.Add(&w, DedupWindow::KeyOf("other"), /*release=*/true);
  settled.Add(nullptr, DedupWindow::KeyOf("x"), false);  // dedup off: ignored
  settled.Apply();
  EXPECT_EQ(w.Admit(DedupWindow::KeyOf("new")), kSeen);
  EXPECT_EQ(w.Admit(DedupWindow::KeyOf("other")), kAdmitted);
  // Past the capacity the oldest are forgotten, as with Done.
  std::vector<Key> many;
  for (int i = 0; i < 20; ++i) {
    many.push_back(DedupWindow::KeyOf("k" + std::to_string(i)));
  }
  w.DoneAll(many);
  EXPECT_EQ(w.Admit(DedupWindow::KeyOf("k19")), kSeen);
  EXPECT_EQ(w.Admit(DedupWindow::KeyOf("k0")), kAdmitted);
}

TEST(DedupWindowsTest, OnePerQueueAndZeroCapacityTurnsItOff) {
  DedupWindows windows(5);
  EXPECT_EQ(windows.For("q"), windows.For("q"));
  EXPECT_NE(windows.For("q"), windows.For("r"));
  DedupWindows off(0);
  EXPECT_EQ(off.For("q"), nullptr);
}

}  // namespace
}  // namespace switchboard::consumer
