#include "tests/testing/resilient_clients.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace switchboard::testing {

using switchboard::v1::Event;
using switchboard::v1::PublishRequest;
using switchboard::v1::PublishResponse;
using switchboard::v1::SubscribeRequest;
using switchboard::v1::SubscribeResponse;

namespace {

// A new channel per attempt: gRPC's own reconnect backoff of a channel
// whose server was gone grows to minutes.
std::shared_ptr<grpc::Channel> FreshChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

std::string StatusText(const grpc::Status& s) {
  return absl::StrCat("code ", s.error_code(), ": ", s.error_message());
}

}  // namespace

// ---- ResendingProducer ----

ResendingProducer::ResendingProducer(Options options, DeliveryLedger* ledger)
    : options_(std::move(options)), ledger_(ledger) {
  thread_ = std::thread([this] { Run(); });
}

ResendingProducer::~ResendingProducer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (context_ != nullptr) context_->TryCancel();
  }
  thread_.join();
}

void ResendingProducer::StopProducing() {
  absl::MutexLock lock(&mu_);
  producing_ = false;
}

bool ResendingProducer::Idle() const {
  return unanswered_.empty() && retry_.empty();
}

bool ResendingProducer::AwaitAllAnswered(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !producing_ && Idle();
  };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

std::string ResendingProducer::Summary() {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> codes;
  for (const auto& [code, n] : rejections_) {
    codes.push_back(absl::StrCat(code, ":", n));
  }
  return absl::StrCat(options_.id_prefix, ": events=", next_event_,
                      " batches=", next_batch_, " answered=", answered_,
                      " unanswered=", unanswered_.size(), " resent=", resent_,
                      " streams=", streams_, " rejections={",
                      absl::StrJoin(codes, ","), "} last_error=", last_error_);
}

void ResendingProducer::OnAnswer(const PublishResponse& answer) {
  auto it =
      std::find_if(unanswered_.begin(), unanswered_.end(),
                   [&](const Batch& b) { return b.id == answer.batch_id(); });
  if (it == unanswered_.end()) {
    last_error_ =
        absl::StrCat("an answer for unknown batch ", answer.batch_id());
    return;
  }
  if (it != unanswered_.begin()) {
    last_error_ =
        absl::StrCat("batch ", answer.batch_id(), " answered before batch ",
                     unanswered_.front().id);
  }
  std::set<int> rejected;
  for (const auto& r : answer.rejections()) {
    rejected.insert(r.index());
    ++rejections_[r.code()];
  }
  const auto& events = it->request.events();
  for (int i = 0; i < events.size(); ++i) {
    if (rejected.count(i) > 0) {
      retry_.push_back(events[i]);
      continue;
    }
    if (i >= answer.event_ids_size() || answer.event_ids(i) != events[i].id()) {
      last_error_ = absl::StrCat("batch ", answer.batch_id(), " event ", i,
                                 ": answered id differs from ", events[i].id());
    }
    ledger_->Accepted(events[i].id());
  }
  if (static_cast<size_t>(it - unanswered_.begin()) < written_) --written_;
  unanswered_.erase(it);
  ++answered_;
  answered_since_connect_ = true;
  last_answer_at_ = absl::Now();
}

void ResendingProducer::Run() {
  absl::Duration backoff = options_.backoff_initial;
  for (;;) {
    RunStream();
    absl::MutexLock lock(&mu_);
    if (stopping_ || (!producing_ && Idle())) return;
    if (answered_since_connect_) backoff = options_.backoff_initial;
    // Reconnect backoff, cut short when the producer is destroyed.
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), backoff);
    backoff = std::min(backoff * 2, options_.backoff_max);
  }
}

void ResendingProducer::RunStream() {
  auto stub =
      switchboard::v1::Broadcaster::NewStub(FreshChannel(options_.address));
  grpc::ClientContext context;
  if (options_.acceptance == switchboard::v1::CONFIRMED) {
    context.AddMetadata("switchboard-acceptance", "confirmed");
  }
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    context_ = &context;
    written_ = 0;
    answered_since_connect_ = false;
    stream_done_ = false;
    last_answer_at_ = absl::Now();
    ++streams_;
  }
  auto stream = stub->Publish(&context);
  std::thread reader([&] {
    PublishResponse answer;
    while (stream->Read(&answer)) {
      absl::MutexLock lock(&mu_);
      OnAnswer(answer);
    }
    absl::MutexLock lock(&mu_);
    stream_done_ = true;
  });
  // A watchdog: a batch unanswered for answer_timeout (a paused
  // broadcaster, a blackholed link) ends the stream, as a producer's
  // deadline would.
  std::thread watchdog([&] {
    absl::MutexLock lock(&mu_);
    while (!stream_done_ && !stopping_) {
      if (written_ > 0 && absl::Now() - std::max(unanswered_.front().written_at,
                                                 last_answer_at_) >
                              options_.answer_timeout) {
        last_error_ =
            absl::StrCat("batch ", unanswered_.front().id, " unanswered for ",
                         absl::FormatDuration(options_.answer_timeout));
        context.TryCancel();
        break;
      }
      mu_.AwaitWithTimeout(absl::Condition(&stream_done_),
                           absl::Milliseconds(100));
    }
  });

  absl::Time next_new = absl::Now();
  const absl::Duration per_batch =
      absl::Seconds(options_.batch_events / options_.events_per_second);
  for (;;) {
    PublishRequest request;
    {
      absl::MutexLock lock(&mu_);
      if (stream_done_ || stopping_) break;
      if (!producing_ && Idle()) break;
      if (written_ < unanswered_.size()) {
        // Sent on a stream that broke: again, with the same ids.
        Batch& b = unanswered_[written_++];
        b.written_at = absl::Now();
        request = b.request;
        ++resent_;
      } else if (unanswered_.size() < options_.max_unanswered_batches &&
                 (!retry_.empty() || (producing_ && absl::Now() >= next_new))) {
        Batch b;
        b.id = ++next_batch_;
        b.request.set_batch_id(b.id);
        b.request.set_acceptance(options_.acceptance);
        if (!retry_.empty()) {
          size_t n = std::min<size_t>(retry_.size(), options_.batch_events);
          for (size_t i = 0; i < n; ++i) {
            *b.request.add_events() = std::move(retry_[i]);
          }
          retry_.erase(retry_.begin(), retry_.begin() + n);
        } else {
          for (int i = 0; i < options_.batch_events; ++i) {
            Event* e = b.request.add_events();
            e->set_id(absl::StrCat(options_.id_prefix, next_event_++));
            e->set_source(options_.source);
            e->set_type("kill9");
            e->set_binary_data(std::string(32, 'k'));
          }
          // Catch up after a stall, but by at most a second's worth.
          next_new =
              std::max(next_new + per_batch, absl::Now() - absl::Seconds(1));
        }
        b.written_at = absl::Now();
        request = b.request;
        unanswered_.push_back(std::move(b));
        ++written_;
      } else {
        // Nothing to send yet: wait for an answer, the end of the stream,
        // or the rate's next batch.
        auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stream_done_ || stopping_ || !retry_.empty() ||
                 written_ < unanswered_.size();
        };
        absl::Duration until_next = next_new - absl::Now();
        mu_.AwaitWithTimeout(absl::Condition(&wake),
                             std::clamp(until_next, absl::Milliseconds(1),
                                        absl::Milliseconds(50)));
        continue;
      }
    }
    if (!stream->Write(request)) break;
  }
  // Everything unanswered is kept for the next stream; end this one.
  context.TryCancel();
  reader.join();
  watchdog.join();
  grpc::Status status = stream->Finish();
  absl::MutexLock lock(&mu_);
  context_ = nullptr;
  if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
    last_error_ = StatusText(status);
  }
}

// ---- ResubscribingApp ----

ResubscribingApp::ResubscribingApp(Options options, DeliveryLedger* ledger)
    : options_(std::move(options)), ledger_(ledger) {
  thread_ = std::thread([this] { Run(); });
}

ResubscribingApp::~ResubscribingApp() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (context_ != nullptr) context_->TryCancel();
  }
  thread_.join();
}

std::string ResubscribingApp::Summary() {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> ends;
  for (const auto& [code, n] : ends_)
    ends.push_back(absl::StrCat(code, ":", n));
  return absl::StrCat("app: deliveries=", deliveries_, " streams=", streams_,
                      " ends={", absl::StrJoin(ends, ","),
                      "} last_end=", last_end_);
}

void ResubscribingApp::Run() {
  absl::Duration backoff = options_.backoff_initial;
  for (;;) {
    auto stub =
        switchboard::v1::Consumer::NewStub(FreshChannel(options_.address));
    grpc::ClientContext context;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      context_ = &context;
      ++streams_;
    }
    auto stream = stub->Subscribe(&context);
    SubscribeRequest open;
    for (const auto& q : options_.queues) open.mutable_open()->add_queues(q);
    open.mutable_open()->set_credit(options_.credit);
    // What it processed lately: acks sent just before the last stream
    // broke may never have reached the consumer.
    for (const auto& [queue, id] : processed_) {
      auto* acked = open.mutable_open()->add_acked();
      acked->set_queue(queue);
      acked->set_id(id);
    }
    uint64_t got = 0;
    if (stream->Write(open)) {
      SubscribeResponse response;
      while (stream->Read(&response)) {
        SubscribeRequest ack;
        for (const auto& d : response.deliveries()) {
          ledger_->Received(d.event().id(), d.redelivered());
          ack.mutable_ack()->add_tags(d.tag());
          if (options_.resend_acked) {
            processed_.emplace_back(d.queue(), d.event().id());
            if (processed_.size() > 2 * options_.credit) processed_.pop_front();
          }
        }
        got += response.deliveries_size();
        {
          absl::MutexLock lock(&mu_);
          deliveries_ += response.deliveries_size();
        }
        if (ack.ack().tags_size() > 0 && !stream->Write(ack)) break;
      }
    }
    context.TryCancel();
    grpc::Status status = stream->Finish();
    absl::MutexLock lock(&mu_);
    context_ = nullptr;
    last_end_ = StatusText(status);
    if (stopping_) return;
    ++ends_[status.error_code()];
    if (got > 0) backoff = options_.backoff_initial;
    // Resubscribe backoff, cut short when the app is destroyed.
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), backoff);
    backoff = std::min(backoff * 2, options_.backoff_max);
  }
}

}  // namespace switchboard::testing
