#include "services/consumer/dedup_window.h"

#include "gtest/gtest.h"

namespace switchboard::consumer {
namespace {

TEST(DedupWindowTest, CopiesOfInFlightAndAckedEventsAreRefused) {
  DedupWindow w(10);
  EXPECT_TRUE(w.Admit(DedupWindow::KeyOf("a")));
  EXPECT_FALSE(
      w.Admit(DedupWindow::KeyOf("a")));  // a copy while the app holds it
  w.Done(DedupWindow::KeyOf("a"));
  EXPECT_FALSE(
      w.Admit(DedupWindow::KeyOf("a")));  // a copy after the app acked it
  EXPECT_TRUE(w.Admit(DedupWindow::KeyOf("b")));
}

TEST(DedupWindowTest, ReleasedEventsAreAdmittedAgain) {
  DedupWindow w(10);
  EXPECT_TRUE(w.Admit(DedupWindow::KeyOf("a")));
  w.Release(DedupWindow::KeyOf("a"));  // went back to the queue unacked
  EXPECT_TRUE(w.Admit(DedupWindow::KeyOf("a")));
}

TEST(DedupWindowTest, RemembersOnlyTheLastCapacityAckedIds) {
  DedupWindow w(2);
  for (const char* id : {"a", "b", "c"}) {
    ASSERT_TRUE(w.Admit(DedupWindow::KeyOf(id)));
    w.Done(DedupWindow::KeyOf(id));
  }
  EXPECT_TRUE(w.Admit(DedupWindow::KeyOf("a")));  // forgotten
  EXPECT_FALSE(w.Admit(DedupWindow::KeyOf("b")));
  EXPECT_FALSE(w.Admit(DedupWindow::KeyOf("c")));
}

TEST(DedupWindowTest, EventsWithoutIdsAreNeverDropped) {
  DedupWindow w(2);
  EXPECT_TRUE(w.Admit(DedupWindow::KeyOf("")));
  w.Done(DedupWindow::KeyOf(""));
  EXPECT_TRUE(w.Admit(DedupWindow::KeyOf("")));
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
