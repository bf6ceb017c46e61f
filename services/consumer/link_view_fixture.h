#ifndef SWITCHBOARD_SERVICES_CONSUMER_LINK_VIEW_FIXTURE_H_
#define SWITCHBOARD_SERVICES_CONSUMER_LINK_VIEW_FIXTURE_H_

// A test fixture for the consumer's link view in-process: a real bridge
// (memory transport), a real consumer service, real gRPC clients; and
// link statuses to publish and watches to read them with.

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "services/common/link_event.h"
#include "services/consumer/consumer_fixture.h"
#include "services/consumer/consumer_service.h"
#include "services/consumer/link_view.h"
#include "switchboard/v1/consumer.grpc.pb.h"
#include "switchboard/v1/event.pb.h"

namespace switchboard::consumer {

inline constexpr switchboard::v1::LinkStatus::State kUp =
    switchboard::v1::LinkStatus::UP;
inline constexpr switchboard::v1::LinkStatus::State kDown =
    switchboard::v1::LinkStatus::DOWN;

// A status of `link` as the broadcaster routes it: stamped with the link
// attributes, numbered `sequence` in its source, id "<link>#<sequence>".
inline switchboard::v1::Event LinkEvent(
    const std::string& link, switchboard::v1::LinkStatus::State state,
    uint64_t sequence, const std::string& source = "kytos") {
  switchboard::v1::Event event;
  event.set_id(absl::StrCat(link, "#", sequence));
  event.set_source(source);
  event.set_type(state == kUp ? "kytos/topology.link_up"
                              : "kytos/topology.link_down");
  event.set_sequence(sequence);
  event.set_subject(link);
  event.mutable_time()->set_seconds(1700000000 + sequence);
  StampLinkReport(LinkReport{link, state}, &event);
  return event;
}

inline std::string QueueOf(const std::string& link) {
  return LinkQueueName("link.", link);
}

// A WatchLinkStatus call, read in the background once StartReading is
// called (at once unless asked otherwise).
class LinkWatch {
 public:
  LinkWatch(switchboard::v1::Consumer::Stub* stub,
            const std::vector<std::string>& link_ids, bool read_now = true) {
    context_.set_deadline(Deadline());
    switchboard::v1::WatchLinkStatusRequest request;
    for (const auto& id : link_ids) request.add_link_ids(id);
    reader_ = stub->WatchLinkStatus(&context_, request);
    if (read_now) StartReading();
  }

  ~LinkWatch() {
    context_.TryCancel();
    Finish();
  }

  void StartReading() {
    thread_ = std::thread([this] {
      switchboard::v1::WatchLinkStatusResponse response;
      while (reader_->Read(&response)) {
        absl::MutexLock lock(&mu_);
        responses_.push_back(response);
      }
      absl::MutexLock lock(&mu_);
      done_ = true;
    });
  }

  // Waits (bounded) until `n` responses have come or the call ended.
  std::vector<switchboard::v1::WatchLinkStatusResponse> Await(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return responses_.size() >= n || done_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
    return responses_;
  }

  std::vector<switchboard::v1::WatchLinkStatusResponse> responses() {
    absl::MutexLock lock(&mu_);
    return responses_;
  }

  void Cancel() { context_.TryCancel(); }

  // Waits for the end of the call and returns its status.
  grpc::Status Finish() {
    if (finished_) return status_;
    if (!thread_.joinable()) StartReading();
    thread_.join();
    status_ = reader_->Finish();
    finished_ = true;
    return status_;
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<switchboard::v1::WatchLinkStatusResponse>>
      reader_;
  std::thread thread_;
  absl::Mutex mu_;
  std::vector<switchboard::v1::WatchLinkStatusResponse> responses_
      ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ = false;
  grpc::Status status_;
};

// "<link>=<UP|DOWN>@<event id>/<initial>" per response, to compare lists.
inline std::vector<std::string> Describe(
    const std::vector<switchboard::v1::WatchLinkStatusResponse>& responses) {
  std::vector<std::string> out;
  for (const auto& r : responses) {
    out.push_back(absl::StrCat(
        r.link().link_id(), "=",
        switchboard::v1::LinkStatus::State_Name(r.link().state()), "@",
        r.link().event().id(), r.initial() ? "/initial" : ""));
  }
  return out;
}

class LinkViewFixture : public ConsumerFixture {
 protected:
  // Discovery at a test's pace.
  std::string BaseYaml() const override {
    return ConsumerFixture::BaseYaml() + "links:\n  discovery_interval: 20ms\n";
  }

  void PublishLink(const std::vector<switchboard::v1::Event>& events) {
    ASSERT_FALSE(events.empty());
    Publish(QueueOf(events[0].subject()), events, /*last_value=*/true);
  }
  void PublishLink(const switchboard::v1::Event& event) {
    PublishLink(std::vector{event});
  }

  grpc::Status GetLinkStatus(const Consumer& consumer, const std::string& link,
                             switchboard::v1::LinkState* state) {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    switchboard::v1::GetLinkStatusRequest request;
    request.set_link_id(link);
    return consumer.stub->GetLinkStatus(&context, request, state);
  }

  grpc::Status ListLinkStatus(const Consumer& consumer,
                              switchboard::v1::ListLinkStatusResponse* out) {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    return consumer.stub->ListLinkStatus(
        &context, switchboard::v1::ListLinkStatusRequest(), out);
  }

  // Waits until `consumer` shows `event` as its link's status.
  ::testing::AssertionResult EventuallyShows(
      const Consumer& consumer, const switchboard::v1::Event& event) {
    switchboard::v1::LinkState state;
    grpc::Status status;
    return Eventually(
        [&] {
          state.Clear();
          status = GetLinkStatus(consumer, event.subject(), &state);
          return status.ok() && state.event().id() == event.id();
        },
        [&] {
          return absl::StrCat(
              "link ", event.subject(), ": wanted event ", event.id(),
              ", last saw ",
              status.ok() ? state.ShortDebugString() : status.error_message());
        });
  }

  ::testing::AssertionResult EventuallyCounters(
      const std::function<bool(const LinkViewCounters&)>& done) {
    LinkViewCounters c;
    return Eventually(
        [&] {
          c = consumer_.service->link_view()->counters();
          return done(c);
        },
        [&] {
          return absl::StrCat("counters: streams_opened ", c.streams_opened,
                              " updates ", c.updates, " stale ", c.stale,
                              " invalid ", c.invalid, " watches ", c.watches);
        });
  }

  // Shuts `consumer` down the way its process would.
  static void StopConsumer(Consumer* consumer) {
    consumer->stub.reset();
    consumer->server.reset();
    consumer->service.reset();
  }
};

}  // namespace switchboard::consumer

#endif  // SWITCHBOARD_SERVICES_CONSUMER_LINK_VIEW_FIXTURE_H_
