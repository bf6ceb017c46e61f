#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_CONFORMANCE_CONFORMANCE_FIXTURE_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_CONFORMANCE_CONFORMANCE_FIXTURE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "services/mq-bridge/transport/conformance/delivery_collector.h"
#include "services/mq-bridge/transport/conformance/transport_conformance.h"
#include "services/mq-bridge/transport/transport.h"
#include "tests/testing/eventually.h"

// What every file of the conformance suite (and the drivers' own tests)
// shares: a driver instance with per-test queue names, publish-and-wait,
// stats polling and dead-letter checks.
namespace switchboard::bridge::testing {

// Generous: a broker on a loaded 2-core machine is slow, and a passing run
// never waits this long.
inline constexpr absl::Duration kWait = absl::Seconds(20);

inline std::vector<std::string> Ids(const std::vector<Delivery>& deliveries) {
  std::vector<std::string> ids;
  for (const Delivery& d : deliveries) ids.push_back(d.id);
  return ids;
}

inline std::vector<uint64_t> Tags(const std::vector<Delivery>& deliveries) {
  std::vector<uint64_t> tags;
  for (const Delivery& d : deliveries) tags.push_back(d.tag);
  return tags;
}

// Publishes `batch` and waits for its confirmation; DEADLINE_EXCEEDED after
// kWait without one. The callback owns what it writes to, so a confirmation
// arriving after the wait gave up writes to nothing freed.
inline PublishResult PublishAndWait(Transport& transport,
                                    std::vector<OutgoingMessage> batch) {
  struct Answer {
    absl::Notification done;
    PublishResult result;
  };
  auto answer = std::make_shared<Answer>();
  transport.Publish(std::move(batch), [answer](PublishResult r) {
    answer->result = std::move(r);
    answer->done.Notify();
  });
  if (!answer->done.WaitForNotificationWithTimeout(kWait)) {
    return absl::DeadlineExceededError("publish was never confirmed");
  }
  return answer->result;
}

class ConformanceFixture {
 public:
  explicit ConformanceFixture(const TransportUnderTest& param)
      : transport_(param.make()),
        prefix_(absl::StrCat("conf", absl::Uniform<uint32_t>(absl::BitGen()),
                             ".")) {}

  Transport& t() { return *transport_; }

  // A per-test queue name.
  std::string Q(absl::string_view name) { return absl::StrCat(prefix_, name); }

  std::string Declare(absl::string_view name, QueueOptions options = {}) {
    std::string q = Q(name);
    EXPECT_TRUE(transport_->DeclareQueue(q, options).ok());
    return q;
  }

  static OutgoingMessage Message(const std::string& id,
                                 std::vector<std::string> queues) {
    return OutgoingMessage{
        id, std::make_shared<const std::string>(absl::StrCat("payload-", id)),
        std::move(queues)};
  }

  absl::Status Publish(std::vector<OutgoingMessage> batch) {
    return PublishWithRefusals(std::move(batch)).status;
  }

  // Publish, with the per-queue refusals.
  PublishResult PublishWithRefusals(std::vector<OutgoingMessage> batch) {
    return PublishAndWait(*transport_, std::move(batch));
  }

  // Publishes ids prefix0..prefix{n-1} to `queue`, `per_batch` per batch.
  std::vector<std::string> PublishMany(const std::string& queue, int n,
                                       const std::string& prefix = "m",
                                       int per_batch = 50) {
    std::vector<std::string> ids;
    std::vector<OutgoingMessage> batch;
    for (int i = 0; i < n; ++i) {
      ids.push_back(absl::StrCat(prefix, i));
      batch.push_back(Message(ids.back(), {queue}));
      if (batch.size() == static_cast<size_t>(per_batch) || i == n - 1) {
        EXPECT_TRUE(Publish(std::move(batch)).ok());
        batch.clear();
      }
    }
    return ids;
  }

  QueueStats Stats(const std::string& queue) {
    auto stats = transport_->GetQueueStats({queue});
    EXPECT_TRUE(stats.ok()) << stats.status();
    if (!stats.ok() || stats->size() != 1) return {};
    return (*stats)[0];
  }

  // Polls stats until `pred` holds: brokers report stats asynchronously.
  bool StatsEventually(const std::string& queue,
                       const std::function<bool(const QueueStats&)>& pred) {
    return switchboard::testing::Eventually([&] { return pred(Stats(queue)); },
                                            kWait);
  }

  // The dead-letter queue `dead` comes to hold one message, `id`, which a
  // subscriber reads and acks.
  void ExpectDeadLettered(const std::string& dead, const std::string& id) {
    EXPECT_TRUE(
        StatsEventually(dead, [](const QueueStats& s) { return s.depth == 1; }))
        << "not moved to " << dead;
    DeliveryCollector buried;
    auto sub = transport_->Subscribe({{dead}, 10}, buried.handler());
    ASSERT_TRUE(sub.ok()) << sub.status();
    std::vector<Delivery> got = buried.WaitFor(1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].id, id);
    EXPECT_EQ(*got[0].payload, absl::StrCat("payload-", id));
    EXPECT_TRUE((*sub)->Ack({got[0].tag}).ok());
  }

 private:
  std::unique_ptr<Transport> transport_;
  std::string prefix_;
};

#define SB_REQUIRE_CAPABILITY(fixture, cap)                               \
  if (!(fixture).t().capabilities().cap) {                                \
    GTEST_SKIP() << GetParam().name << " declares no '" #cap "' support"; \
  }

}  // namespace switchboard::bridge::testing

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_CONFORMANCE_CONFORMANCE_FIXTURE_H_
