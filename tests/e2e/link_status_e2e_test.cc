// Link status through the three real binaries, on the memory and on the
// rabbitmq transport: last-value link queues, the consumer's link view, and
// its rebuild after the consumer process is killed.
#include <signal.h>

#include <map>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster.h"
#include "tests/testing/rabbitmq_environment.h"

namespace switchboard::testing {
namespace {

using switchboard::v1::Event;
using switchboard::v1::LinkStatus;

class LinkStatusTest : public ::testing::TestWithParam<std::string> {
 protected:
  // Every test gets its own names, so tests sharing the broker never see
  // each other's queues.
  std::unique_ptr<Cluster> Start(const std::string& tag) {
    const std::string link_prefix = absl::StrCat(tag, ".link.");
    Cluster::Options options;
    if (GetParam() == "rabbitmq") {
      options.bridge_yaml = SharedRabbitMqBridgeYaml(tag);
    }
    options.broadcaster_yaml += absl::StrCat(
        "routing:\n  verbose_queue: ", tag, ".verbose\n",
        "  app_queue_prefix: ", tag, ".app.\n",
        "links:\n  queue_prefix: ", link_prefix,
        "\n  event_types:\n"
        "    kytos/topology.link_down: {state: down, link_id_field: link.id}\n"
        "    kytos/topology.link_up: {state: up, link_id_field: link.id}\n");
    options.consumer_yaml +=
        absl::StrCat("links:\n  queue_prefix: ", link_prefix,
                     "\n  discovery_interval: 200ms\n");
    auto cluster = Cluster::Start(options);
    EXPECT_TRUE(cluster.ok()) << cluster.status();
    return cluster.ok() ? *std::move(cluster) : nullptr;
  }
};

// Half the links report with the typed payload, half as Kytos JSON events.
Event LinkEvent(int link, bool up) {
  Event e;
  e.set_source("kytos/topology");
  const std::string id = absl::StrCat("link-", link);
  if (link % 2 == 0) {
    e.set_type("link_status");
    e.mutable_link_status()->set_link_id(id);
    e.mutable_link_status()->set_state(up ? LinkStatus::UP : LinkStatus::DOWN);
  } else {
    e.set_type(up ? "kytos/topology.link_up" : "kytos/topology.link_down");
    auto& link_struct = *(*e.mutable_json_data()->mutable_fields())["link"]
                             .mutable_struct_value();
    (*link_struct.mutable_fields())["id"].set_string_value(id);
  }
  return e;
}

using LinkMap = std::map<std::string, LinkStatus::State>;

absl::StatusOr<LinkMap> View(const std::string& consumer_address) {
  auto stub = switchboard::v1::Consumer::NewStub(grpc::CreateChannel(
      consumer_address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  switchboard::v1::ListLinkStatusResponse response;
  grpc::Status s = stub->ListLinkStatus(
      &context, switchboard::v1::ListLinkStatusRequest(), &response);
  if (!s.ok()) return absl::UnavailableError(s.error_message());
  LinkMap view;
  for (const auto& link : response.links()) view[link.link_id()] = link.state();
  return view;
}

// A WatchLinkStatus stream of every link, read in the background: the last
// state it reported per link.
class Watch {
 public:
  explicit Watch(const std::string& consumer_address)
      : stub_(switchboard::v1::Consumer::NewStub(grpc::CreateChannel(
            consumer_address, grpc::InsecureChannelCredentials()))),
        reader_(stub_->WatchLinkStatus(
            &context_, switchboard::v1::WatchLinkStatusRequest())),
        thread_([this] {
          switchboard::v1::WatchLinkStatusResponse update;
          while (reader_->Read(&update)) {
            absl::MutexLock lock(&mu_);
            seen_[update.link().link_id()] = update.link().state();
          }
        }) {}
  ~Watch() {
    context_.TryCancel();
    thread_.join();
  }
  LinkMap seen() {
    absl::MutexLock lock(&mu_);
    return seen_;
  }

 private:
  std::unique_ptr<switchboard::v1::Consumer::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<switchboard::v1::WatchLinkStatusResponse>>
      reader_;
  absl::Mutex mu_;
  LinkMap seen_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

std::string Describe(const absl::StatusOr<LinkMap>& view) {
  if (!view.ok()) return view.status().ToString();
  std::string out;
  for (const auto& [id, state] : *view) {
    absl::StrAppend(&out, id, "=", LinkStatus::State_Name(state), " ");
  }
  return out;
}

TEST_P(LinkStatusTest, FlapsEndWithTheLastStateAndAKilledConsumerRebuilds) {
  auto cluster = Start(absl::StrCat("links1", GetParam()));
  ASSERT_NE(cluster, nullptr);
  constexpr int kLinks = 20;
  constexpr int kFlaps = 50;
  std::mt19937 random(7);
  // Every link flaps down, up, down... and ends in a random state; the
  // events of all links interleave.
  std::vector<Event> events;
  LinkMap expected;
  std::vector<int> remaining(kLinks, kFlaps);
  std::vector<bool> last_up(kLinks);
  for (int link = 0; link < kLinks; ++link) last_up[link] = random() % 2;
  for (int round = 0; round < kFlaps; ++round) {
    for (int link = 0; link < kLinks; ++link) {
      // The last flap has the chosen state; before it they alternate.
      const int left = kFlaps - 1 - round;
      const bool up = (left % 2 == 0) ? last_up[link] : !last_up[link];
      events.push_back(LinkEvent(link, up));
    }
  }
  for (int link = 0; link < kLinks; ++link) {
    expected[absl::StrCat("link-", link)] =
        last_up[link] ? LinkStatus::UP : LinkStatus::DOWN;
  }
  // A watcher that was there before the first status ends with the same
  // states as the view, whatever it skipped on the way.
  Watch watch(cluster->consumer_address());
  auto answers = Publish(cluster->broadcaster_address(), events, 37);
  ASSERT_TRUE(answers.ok()) << answers.status();
  for (const auto& a : *answers) ASSERT_EQ(a.rejections_size(), 0);

  auto view_reaches = [&](const LinkMap& want) {
    absl::StatusOr<LinkMap> view;
    EXPECT_TRUE(Eventually([&] {
      view = View(cluster->consumer_address());
      return view.ok() && *view == want;
    })) << Describe(view)
        << "\n"
        << cluster->Log("consumer");
  };
  view_reaches(expected);
  absl::StatusOr<LinkMap> watched;
  EXPECT_TRUE(Eventually([&] {
    watched = watch.seen();
    return *watched == expected;
  })) << Describe(watched);

  // kill -9: the held statuses go back to their queues and the next
  // consumer process rebuilds the same view from them.
  cluster->consumer().Signal(SIGKILL);
  cluster->consumer().Wait(absl::Seconds(10));
  // A link changes while no consumer runs: the change is kept too.
  ASSERT_TRUE(Publish(cluster->broadcaster_address(),
                      {LinkEvent(3, expected["link-3"] != LinkStatus::UP)})
                  .ok());
  expected["link-3"] =
      expected["link-3"] == LinkStatus::UP ? LinkStatus::DOWN : LinkStatus::UP;
  ASSERT_TRUE(cluster->StartConsumer().ok());
  view_reaches(expected);

  // The newest status of each link is held (unacked) by the link view, so
  // nothing waits in the link queues.
  EXPECT_EQ(
      cluster->QueueDepth(absl::StrCat("links1", GetParam(), ".link.link-0")),
      0u);
}

INSTANTIATE_TEST_SUITE_P(Transports, LinkStatusTest,
                         ::testing::Values("memory", "rabbitmq"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace switchboard::testing
