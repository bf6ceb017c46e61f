#include "services/mq-bridge/transport/rabbitmq/delivery_counter.h"

#include "gtest/gtest.h"

namespace switchboard::bridge::rabbitmq {
namespace {

TEST(DeliveryCounterTest, CountsRedeliveriesPerQueueAndEvent) {
  DeliveryCounter counter;
  // The first delivery is never counted: the first count is delivery 2.
  EXPECT_EQ(counter.Count("q", "e1"), 2u);
  EXPECT_EQ(counter.Count("q", "e1"), 3u);
  EXPECT_EQ(counter.Count("q", "e2"), 2u);
  EXPECT_EQ(counter.Count("other", "e1"), 2u);
  EXPECT_EQ(counter.Count("q", "e1"), 4u);
}

TEST(DeliveryCounterTest, ForgetStartsOver) {
  DeliveryCounter counter;
  counter.Count("q", "e");
  counter.Count("q", "e");
  counter.Forget("q", "e");
  EXPECT_EQ(counter.Count("q", "e"), 2u);
  counter.Forget("q", "never-counted");
}

TEST(DeliveryCounterTest, TheOldestCountsAreForgottenFirst) {
  DeliveryCounter counter(/*capacity=*/2);
  counter.Count("q", "a");
  counter.Count("q", "a");
  counter.Count("q", "b");
  counter.Count("q", "c");  // over capacity: a goes
  EXPECT_EQ(counter.Count("q", "b"), 3u);
  EXPECT_EQ(counter.Count("q", "c"), 3u);
  EXPECT_EQ(counter.Count("q", "a"), 2u);
}

}  // namespace
}  // namespace switchboard::bridge::rabbitmq
