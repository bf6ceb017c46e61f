// PeerSequencer: gaps, restarts and duplicate peers, without sockets.
#include "services/mq-bridge/transport/zeromq/zeromq_sequencer.h"

#include <optional>

#include "gtest/gtest.h"

namespace switchboard::bridge::zeromq {
namespace {

TEST(PeerSequencerTest, FirstMessageIsANewPublisherWithoutLoss) {
  PeerSequencer seq(1);
  EXPECT_EQ(seq.publisher_id(0), 0u);
  // Whatever it sent before we connected is not loss.
  PeerSequencer::Verdict v = seq.Observe(0, 42, 1000);
  EXPECT_TRUE(v.accept);
  EXPECT_TRUE(v.new_publisher);
  EXPECT_EQ(v.previous_publisher_id, 0u);
  EXPECT_FALSE(v.duplicate_of.has_value());
  EXPECT_EQ(v.lost(), 0u);
  EXPECT_EQ(seq.publisher_id(0), 42u);
  EXPECT_EQ(seq.DistinctPublishers(), 1u);
}

TEST(PeerSequencerTest, InOrderMessagesLoseNothing) {
  PeerSequencer seq(1);
  seq.Observe(0, 42, 1);
  for (uint64_t s = 2; s < 10; ++s) {
    PeerSequencer::Verdict v = seq.Observe(0, 42, s);
    EXPECT_TRUE(v.accept);
    EXPECT_FALSE(v.new_publisher);
    EXPECT_EQ(v.lost(), 0u) << s;
  }
}

TEST(PeerSequencerTest, GapIsLossOfTheMissingRange) {
  PeerSequencer seq(1);
  seq.Observe(0, 42, 1);
  seq.Observe(0, 42, 2);
  PeerSequencer::Verdict v = seq.Observe(0, 42, 7);
  EXPECT_TRUE(v.accept);
  EXPECT_EQ(v.lost_from, 3u);
  EXPECT_EQ(v.lost_to, 7u);
  EXPECT_EQ(v.lost(), 4u);
  // The sequence goes on after the gap.
  EXPECT_EQ(seq.Observe(0, 42, 8).lost(), 0u);
}

TEST(PeerSequencerTest, OldOrRepeatedNumbersAreNeitherLossNorRewind) {
  PeerSequencer seq(1);
  seq.Observe(0, 42, 10);
  PeerSequencer::Verdict v = seq.Observe(0, 42, 5);
  EXPECT_TRUE(v.accept);
  EXPECT_EQ(v.lost(), 0u);
  v = seq.Observe(0, 42, 10);
  EXPECT_EQ(v.lost(), 0u);
  // Still expects 11.
  EXPECT_EQ(seq.Observe(0, 42, 12).lost(), 1u);
}

TEST(PeerSequencerTest, NewIdIsARestartStartingANewSequence) {
  PeerSequencer seq(1);
  seq.Observe(0, 42, 1);
  seq.Observe(0, 42, 2);
  PeerSequencer::Verdict v = seq.Observe(0, 43, 500);
  EXPECT_TRUE(v.accept);
  EXPECT_TRUE(v.new_publisher);
  EXPECT_EQ(v.previous_publisher_id, 42u);
  EXPECT_EQ(v.lost(), 0u);
  EXPECT_EQ(seq.Observe(0, 43, 501).lost(), 0u);
  EXPECT_EQ(seq.DistinctPublishers(), 1u);
}

TEST(PeerSequencerTest, SecondPeerReachingTheSamePublisherIsIgnored) {
  PeerSequencer seq(3);
  seq.Observe(0, 42, 1);
  PeerSequencer::Verdict v = seq.Observe(1, 42, 2);
  EXPECT_FALSE(v.accept);
  EXPECT_TRUE(v.new_publisher);
  ASSERT_TRUE(v.duplicate_of.has_value());
  EXPECT_EQ(*v.duplicate_of, 0u);
  EXPECT_TRUE(seq.duplicate(1));
  EXPECT_FALSE(seq.duplicate(0));
  // Everything through the duplicate is ignored, gaps included.
  v = seq.Observe(1, 42, 9);
  EXPECT_FALSE(v.accept);
  EXPECT_FALSE(v.new_publisher);
  EXPECT_EQ(v.lost(), 0u);
  // The first peer goes on as before.
  EXPECT_TRUE(seq.Observe(0, 42, 3).accept);
  // Another publisher on a third peer is not a duplicate.
  v = seq.Observe(2, 77, 1);
  EXPECT_TRUE(v.accept);
  EXPECT_FALSE(v.duplicate_of.has_value());
  EXPECT_EQ(seq.DistinctPublishers(), 2u);
}

TEST(PeerSequencerTest, DuplicatePeerIsReadAgainOnceItsPublisherChanges) {
  PeerSequencer seq(2);
  seq.Observe(0, 42, 1);
  ASSERT_FALSE(seq.Observe(1, 42, 1).accept);
  PeerSequencer::Verdict v = seq.Observe(1, 43, 1);
  EXPECT_TRUE(v.accept);
  EXPECT_TRUE(v.new_publisher);
  EXPECT_EQ(v.previous_publisher_id, 42u);
  EXPECT_FALSE(seq.duplicate(1));
  EXPECT_EQ(seq.DistinctPublishers(), 2u);
}

TEST(PeerSequencerTest, DistinctPublishersCountsPeersHeard) {
  PeerSequencer seq(3);
  EXPECT_EQ(seq.DistinctPublishers(), 0u);
  seq.Observe(1, 5, 1);
  EXPECT_EQ(seq.DistinctPublishers(), 1u);
  seq.Observe(2, 5, 1);  // a duplicate: the same publisher
  EXPECT_EQ(seq.DistinctPublishers(), 1u);
  seq.Observe(0, 6, 1);
  EXPECT_EQ(seq.DistinctPublishers(), 2u);
}

}  // namespace
}  // namespace switchboard::bridge::zeromq
