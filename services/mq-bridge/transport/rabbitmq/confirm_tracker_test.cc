#include "services/mq-bridge/transport/rabbitmq/confirm_tracker.h"

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard::bridge::rabbitmq {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A message with `id` for `queues`.
OutgoingMessage Message(const std::string& id,
                        std::vector<std::string> queues) {
  OutgoingMessage m;
  m.id = id;
  m.payload = std::make_shared<const std::string>("body-" + id);
  m.queues = std::move(queues);
  return m;
}

// The tracker under test, a channel that records what it was sent, and the
// batches' answers.
class ConfirmTrackerTest : public ::testing::Test {
 protected:
  // Adds a batch of `messages` and publishes it; returns its index in
  // results_.
  size_t Publish(std::vector<OutgoingMessage> messages) {
    const size_t index = AddBatch(std::move(messages));
    EXPECT_TRUE(tracker_.Publish(*batches_[index], send_).ok());
    return index;
  }

  // Adds a batch without publishing it.
  size_t AddBatch(std::vector<OutgoingMessage> messages) {
    const size_t index = results_.size();
    results_.emplace_back();
    PendingBatch batch;
    batch.messages = std::move(messages);
    batch.done = [this, index](PublishResult result) {
      ASSERT_FALSE(results_[index].has_value()) << "answered twice";
      results_[index] = std::move(result);
      answer_order_.push_back(index);
    };
    batches_.push_back(&tracker_.Add(std::move(batch)));
    return index;
  }

  bool Answered(size_t index) const { return results_[index].has_value(); }
  const PublishResult& Result(size_t index) const { return *results_[index]; }

  // Queues that refuse publishes by policy (x-overflow reject-publish).
  std::set<std::string> reject_publish_;
  std::vector<std::string> refusals_counted_;
  ConfirmTracker tracker_{/*window=*/4, [this](const std::string& queue) {
                            const bool refuses = reject_publish_.count(queue);
                            if (refuses) refusals_counted_.push_back(queue);
                            return refuses;
                          }};
  // Pending batches by index (valid while pending).
  std::vector<PendingBatch*> batches_;
  std::vector<std::optional<PublishResult>> results_;
  std::vector<size_t> answer_order_;
  // "id@queue" of each copy sent, in order.
  std::vector<std::string> sent_;
  // Sends fail once this many succeeded (-1: never).
  int fail_after_ = -1;
  // The publish channel.
  const std::function<absl::Status(const OutgoingMessage&, const std::string&)>
      send_ = [this](const OutgoingMessage& m, const std::string& queue) {
        sent_.push_back(m.id + "@" + queue);
        if (fail_after_ >= 0 && static_cast<int>(sent_.size()) > fail_after_) {
          return absl::UnavailableError("connection lost mid-batch");
        }
        return absl::OkStatus();
      };
};

TEST_F(ConfirmTrackerTest, ASingleAckAnswersAOneMessageBatch) {
  const size_t a = Publish({Message("a", {"q"})});
  EXPECT_EQ(batches_[a]->first_seq, 1u);
  EXPECT_EQ(batches_[a]->last_seq, 1u);
  EXPECT_EQ(tracker_.unconfirmed(), 1u);
  EXPECT_FALSE(Answered(a));

  ConfirmTracker::Outcome outcome = tracker_.Confirm(1, false, true);
  EXPECT_EQ(outcome.stored, 1u);
  EXPECT_THAT(outcome.nacked_queue, IsEmpty());
  ASSERT_TRUE(Answered(a));
  EXPECT_TRUE(Result(a).status.ok());
  EXPECT_THAT(Result(a).refused, IsEmpty());
  EXPECT_EQ(tracker_.unconfirmed(), 0u);
  EXPECT_EQ(tracker_.pending_batches(), 0u);
}

TEST_F(ConfirmTrackerTest, EachCopyIsASequenceNumberInMessageThenQueueOrder) {
  const size_t a = Publish({Message("a", {"q1", "q2"}), Message("b", {"q1"})});
  EXPECT_THAT(sent_, ElementsAre("a@q1", "a@q2", "b@q1"));
  EXPECT_EQ(batches_[a]->Copies(), 3u);
  EXPECT_EQ(batches_[a]->first_seq, 1u);
  EXPECT_EQ(batches_[a]->last_seq, 3u);
  auto [message, queue] = batches_[a]->At(2);
  EXPECT_EQ(message, 0u);
  EXPECT_EQ(*queue, "q2");
  std::tie(message, queue) = batches_[a]->At(3);
  EXPECT_EQ(message, 1u);
  EXPECT_EQ(*queue, "q1");
  EXPECT_EQ(batches_[a]->At(4).second, nullptr);
}

TEST_F(ConfirmTrackerTest, ABatchIsAnsweredOnceEveryCopyIsConfirmed) {
  const size_t a = Publish({Message("a", {"q1", "q2"}), Message("b", {"q1"})});
  tracker_.Confirm(1, false, true);
  tracker_.Confirm(3, false, true);
  EXPECT_FALSE(Answered(a));
  EXPECT_EQ(tracker_.unconfirmed(), 1u);
  tracker_.Confirm(2, false, true);
  ASSERT_TRUE(Answered(a));
  EXPECT_TRUE(Result(a).status.ok());
}

TEST_F(ConfirmTrackerTest, BatchesAreAnsweredInOrder) {
  const size_t a = Publish({Message("a", {"q"}), Message("b", {"q"})});
  const size_t b = Publish({Message("c", {"q"})});
  EXPECT_EQ(batches_[b]->first_seq, 3u);
  // The later batch is confirmed first; it waits for the earlier one.
  EXPECT_EQ(tracker_.Confirm(3, false, true).stored, 0u);
  EXPECT_FALSE(Answered(b));
  tracker_.Confirm(1, false, true);
  EXPECT_FALSE(Answered(a));
  EXPECT_EQ(tracker_.Confirm(2, false, true).stored, 2u);
  EXPECT_THAT(answer_order_, ElementsAre(a, b));
}

TEST_F(ConfirmTrackerTest, AMultipleAckConfirmsSeveralBatches) {
  const size_t a = Publish({Message("a", {"q1", "q2"})});
  const size_t b = Publish({Message("b", {"q1"})});
  const size_t c = Publish({Message("c", {"q1"}), Message("d", {"q2"})});
  ConfirmTracker::Outcome outcome = tracker_.Confirm(4, true, true);
  EXPECT_EQ(outcome.stored, 2u);
  EXPECT_THAT(answer_order_, ElementsAre(a, b));
  EXPECT_FALSE(Answered(c));
  EXPECT_EQ(tracker_.unconfirmed(), 1u);
  EXPECT_EQ(tracker_.Confirm(5, true, true).stored, 1u);
  EXPECT_THAT(answer_order_, ElementsAre(a, b, c));
  EXPECT_EQ(tracker_.unconfirmed(), 0u);
}

TEST_F(ConfirmTrackerTest, AMultipleAckJoinsSingleAcksAboveIt) {
  const size_t a = Publish({Message("a", {"q"}), Message("b", {"q"})});
  const size_t b = Publish({Message("c", {"q"}), Message("d", {"q"})});
  tracker_.Confirm(4, false, true);
  tracker_.Confirm(3, false, true);
  EXPECT_EQ(tracker_.unconfirmed(), 2u);
  // Up to 2, and 3 and 4 already: everything.
  EXPECT_EQ(tracker_.Confirm(2, true, true).stored, 2u);
  EXPECT_THAT(answer_order_, ElementsAre(a, b));
  EXPECT_EQ(tracker_.unconfirmed(), 0u);
}

TEST_F(ConfirmTrackerTest, ANackOfAQueueThatRefusesByPolicyIsARefusal) {
  reject_publish_ = {"full"};
  const size_t a =
      Publish({Message("a", {"ok", "full"}), Message("b", {"full"})});
  tracker_.Confirm(3, false, false);
  tracker_.Confirm(2, false, false);
  EXPECT_EQ(tracker_.Confirm(1, false, true).stored, 1u);
  ASSERT_TRUE(Answered(a));
  // The batch went through, but for the refused copies, by message index.
  EXPECT_TRUE(Result(a).status.ok());
  ASSERT_EQ(Result(a).refused.size(), 2u);
  EXPECT_EQ(Result(a).refused[0].message, 0u);
  EXPECT_EQ(Result(a).refused[0].queue, "full");
  EXPECT_EQ(Result(a).refused[0].status.code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(Result(a).refused[0].status.message()),
              HasSubstr("x-overflow reject-publish"));
  EXPECT_EQ(Result(a).refused[1].message, 1u);
  EXPECT_THAT(refusals_counted_, ElementsAre("full", "full"));
}

TEST_F(ConfirmTrackerTest, ANackOfAnyOtherQueueKeepsTheBatchesForANewChannel) {
  const size_t a = Publish({Message("a", {"q1"}), Message("b", {"q2"})});
  const size_t b = Publish({Message("c", {"q1"})});
  EXPECT_THAT(tracker_.Confirm(2, false, false).nacked_queue, IsEmpty())
      << "reported once the batch is confirmed in full";
  EXPECT_THAT(tracker_.Confirm(3, false, true).nacked_queue, IsEmpty());
  // 1 completes batch a, nacked: it holds itself and batch b back.
  ConfirmTracker::Outcome outcome = tracker_.Confirm(1, false, true);
  EXPECT_EQ(outcome.stored, 0u);
  EXPECT_EQ(outcome.nacked_queue, "q2");
  EXPECT_FALSE(Answered(a));
  EXPECT_FALSE(Answered(b));
  EXPECT_EQ(tracker_.pending_batches(), 2u);

  // A new channel: everything pending goes again, numbered from 1.
  tracker_.Restart();
  EXPECT_EQ(tracker_.unconfirmed(), 0u);
  sent_.clear();
  ASSERT_TRUE(tracker_
                  .ForEachPending([this](PendingBatch& batch) {
                    return tracker_.Publish(batch, send_);
                  })
                  .ok());
  EXPECT_THAT(sent_, ElementsAre("a@q1", "b@q2", "c@q1"));
  EXPECT_EQ(batches_[a]->first_seq, 1u);
  EXPECT_FALSE(batches_[a]->nacked);
  EXPECT_EQ(batches_[b]->first_seq, 3u);
  EXPECT_EQ(tracker_.unconfirmed(), 3u);
  EXPECT_EQ(tracker_.Confirm(3, true, true).stored, 2u);
  EXPECT_THAT(answer_order_, ElementsAre(a, b));
  EXPECT_TRUE(Result(a).status.ok());
}

TEST_F(ConfirmTrackerTest, AMultipleNackSparesWhatWasConfirmedAlready) {
  reject_publish_ = {"full"};
  const size_t a = Publish(
      {Message("a", {"full"}), Message("b", {"full"}), Message("c", {"full"})});
  tracker_.Confirm(2, false, true);
  tracker_.Confirm(3, true, false);
  ASSERT_TRUE(Answered(a));
  ASSERT_EQ(Result(a).refused.size(), 2u);
  EXPECT_EQ(Result(a).refused[0].message, 0u);
  EXPECT_EQ(Result(a).refused[1].message, 2u);
}

TEST_F(ConfirmTrackerTest, AReturnedMessageFailsItsBatchWithNotFound) {
  const size_t a = Publish({Message("a", {"kept"})});
  const size_t b = Publish({Message("b", {"kept", "expired"})});
  EXPECT_FALSE(tracker_.Returned("expired", "a"));
  EXPECT_FALSE(tracker_.Returned("elsewhere", "b"));
  EXPECT_TRUE(tracker_.Returned("expired", "b"));
  EXPECT_EQ(tracker_.Confirm(3, true, true).stored, 1u);
  ASSERT_TRUE(Answered(a) && Answered(b));
  EXPECT_TRUE(Result(a).status.ok());
  EXPECT_EQ(Result(b).status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(Result(b).status.message()),
              HasSubstr("queue 'expired' no longer exists"));
}

TEST_F(ConfirmTrackerTest, TheWindowHoldsAtMostItsSizeButNeverStallsABatch) {
  EXPECT_TRUE(tracker_.HasRoomFor(10)) << "nothing unconfirmed";
  Publish({Message("a", {"q1", "q2", "q3"})});
  EXPECT_TRUE(tracker_.HasRoomFor(1));
  EXPECT_FALSE(tracker_.HasRoomFor(2));
  tracker_.Confirm(2, true, true);
  EXPECT_TRUE(tracker_.HasRoomFor(3));
  EXPECT_FALSE(tracker_.HasRoomFor(4));
}

TEST_F(ConfirmTrackerTest, AFailedSendStopsTheBatchUntilItIsRepublished) {
  fail_after_ = 1;
  const size_t a = AddBatch({Message("a", {"q"}), Message("b", {"q"})});
  absl::Status s = tracker_.Publish(*batches_[a], send_);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(sent_, ElementsAre("a@q", "b@q"));
  EXPECT_FALSE(batches_[a]->published);
  // An unpublished batch is not answered.
  tracker_.Confirm(1, false, true);
  EXPECT_FALSE(Answered(a));

  fail_after_ = -1;
  sent_.clear();
  tracker_.Restart();
  ASSERT_TRUE(tracker_
                  .ForEachPending([this](PendingBatch& batch) {
                    return tracker_.Publish(batch, send_);
                  })
                  .ok());
  EXPECT_THAT(sent_, ElementsAre("a@q", "b@q"));
  EXPECT_EQ(batches_[a]->first_seq, 1u);
  EXPECT_EQ(batches_[a]->last_seq, 2u);
  EXPECT_EQ(tracker_.Confirm(2, true, true).stored, 1u);
  EXPECT_TRUE(Result(a).status.ok());
}

TEST_F(ConfirmTrackerTest, FailAllAnswersEveryPendingBatchInOrder) {
  const size_t a = Publish({Message("a", {"q"})});
  const size_t b = AddBatch({Message("b", {"q"})});
  tracker_.FailAll(absl::UnavailableError("stopped"));
  EXPECT_THAT(answer_order_, ElementsAre(a, b));
  EXPECT_EQ(Result(a).status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Result(b).status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(tracker_.pending_batches(), 0u);
  EXPECT_EQ(tracker_.unconfirmed(), 0u);
}

}  // namespace
}  // namespace switchboard::bridge::rabbitmq
