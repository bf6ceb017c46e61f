#include "services/consumer/dedup_window.h"

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

TEST(DedupWindowsTest, OnePerQueueAndZeroCapacityTurnsItOff) {
  DedupWindows windows(5);
  EXPECT_EQ(windows.For("q"), windows.For("q"));
  EXPECT_NE(windows.For("q"), windows.For("r"));
  DedupWindows off(0);
  EXPECT_EQ(off.For("q"), nullptr);
}

}  // namespace
}  // namespace switchboard::consumer
