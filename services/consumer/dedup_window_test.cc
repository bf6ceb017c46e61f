#include "services/consumer/dedup_window.h"

#include "gtest/gtest.h"

namespace switchboard::consumer {
namespace {

TEST(DedupWindowTest, CopiesOfInFlightAndAckedEventsAreRefused) {
  DedupWindow w(10);
  EXPECT_TRUE(w.Admit("a"));
  EXPECT_FALSE(w.Admit("a"));  // a copy while the app holds it
  w.Done("a");
  EXPECT_FALSE(w.Admit("a"));  // a copy after the app acked it
  EXPECT_TRUE(w.Admit("b"));
}

TEST(DedupWindowTest, ReleasedEventsAreAdmittedAgain) {
  DedupWindow w(10);
  EXPECT_TRUE(w.Admit("a"));
  w.Release("a");  // went back to the queue unacked
  EXPECT_TRUE(w.Admit("a"));
}

TEST(DedupWindowTest, RemembersOnlyTheLastCapacityAckedIds) {
  DedupWindow w(2);
  for (const char* id : {"a", "b", "c"}) {
    ASSERT_TRUE(w.Admit(id));
    w.Done(id);
  }
  EXPECT_TRUE(w.Admit("a"));  // forgotten
  EXPECT_FALSE(w.Admit("b"));
  EXPECT_FALSE(w.Admit("c"));
}

TEST(DedupWindowTest, EventsWithoutIdsAreNeverDropped) {
  DedupWindow w(2);
  EXPECT_TRUE(w.Admit(""));
  w.Done("");
  EXPECT_TRUE(w.Admit(""));
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
