#include "services/broadcaster/sequencer.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace switchboard::broadcaster {
namespace {

using switchboard::v1::Event;

Event From(const std::string& source, uint64_t sequence = 0) {
  Event e;
  e.set_source(source);
  e.set_sequence(sequence);
  return e;
}

TEST(SequencerTest, NumbersEachSourceOnItsOwn) {
  Sequencer sequencer;
  Event a1 = From("a"), b1 = From("b"), a2 = From("a");
  EXPECT_EQ(sequencer.Assign({&a1, &b1, &a2}), 0u);
  EXPECT_EQ(a1.sequence(), 1u);
  EXPECT_EQ(b1.sequence(), 1u);
  EXPECT_EQ(a2.sequence(), 2u);
}

TEST(SequencerTest, AnEventsOwnSequenceMovesItsSourceUp) {
  Sequencer sequencer;
  Event own = From("a", 10), next = From("a"), lower = From("a", 3);
  EXPECT_EQ(sequencer.Assign({&own}), 0u);
  EXPECT_EQ(sequencer.Assign({&lower, &next}), 1u);
  EXPECT_EQ(own.sequence(), 10u);
  EXPECT_EQ(lower.sequence(), 3u);
  EXPECT_EQ(next.sequence(), 11u);
}

TEST(SequencerTest, TurnsRunInTicketOrder) {
  Sequencer sequencer;
  std::vector<uint64_t> order;
  // Ticket 1 asks first but waits for ticket 0.
  std::thread later([&] {
    sequencer.InTurn(1, [&] {
      order.push_back(1);
      return size_t{0};
    });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(sequencer.InTurn(0,
                             [&] {
                               order.push_back(0);
                               return size_t{7};
                             }),
            7u);
  later.join();
  EXPECT_EQ(order, (std::vector<uint64_t>{0, 1}));
}

}  // namespace
}  // namespace switchboard::broadcaster
