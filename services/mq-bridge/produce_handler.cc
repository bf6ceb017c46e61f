#include "services/mq-bridge/produce_handler.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/common/grpc_status.h"
#include "services/common/logging.h"

namespace switchboard::bridge {
namespace {

using switchboard::v1::ProduceRequest;
using switchboard::v1::ProduceResponse;

// Queues a batch cannot use, with why: their events are refused there.
using UnusableQueues = absl::flat_hash_map<std::string, absl::Status>;

QueueOptions FromSpec(const switchboard::v1::QueueSpec& spec) {
  QueueOptions options;
  options.last_value = spec.last_value();
  const switchboard::v1::QueueLimits& l = spec.limits();
  options.limits.max_length = l.max_length();
  options.limits.max_bytes = l.max_bytes();
  options.limits.message_ttl = absl::Milliseconds(l.message_ttl_ms());
  options.limits.expires = absl::Milliseconds(l.expires_ms());
  switch (l.overflow()) {
    case switchboard::v1::QueueLimits::REJECT_PUBLISH:
      options.limits.overflow = OverflowPolicy::kRejectPublish;
      break;
    case switchboard::v1::QueueLimits::DEAD_LETTER:
      options.limits.overflow = OverflowPolicy::kDeadLetter;
      break;
    default:
      options.limits.overflow = OverflowPolicy::kDropHead;
  }
  return options;
}

// Declares the batch's queues. A queue that exists with other options is
// used as it is (logged: the running queue wins; nothing accepted is
// discarded for it); a queue that cannot be declared at all (invalid
// name) goes into `unusable`, refusing its events. Any other error
// (the transport is down) fails the batch, to be sent again.
absl::Status Declare(Transport& transport, const ProduceRequest& request,
                     UnusableQueues* unusable) {
  for (const auto& spec : request.declare()) {
    absl::Status s = transport.DeclareQueue(spec.name(), FromSpec(spec));
    if (s.ok()) continue;
    if (absl::IsFailedPrecondition(s)) {
      Logger("bridge")->error(
          "queue {} keeps its running options, events still go to it: {}",
          spec.name(), std::string(s.message()));
      continue;
    }
    if (absl::IsInvalidArgument(s)) {
      Logger("bridge")->error("queue {} cannot be declared: {}", spec.name(),
                              std::string(s.message()));
      unusable->emplace(spec.name(), std::move(s));
      continue;
    }
    return s;
  }
  return absl::OkStatus();
}

// A request's events as the transport takes them.
struct PreparedBatch {
  std::vector<OutgoingMessage> messages;
  // Refusals found before publishing, by the request's event index.
  std::vector<Refusal> refused;
  // The request's event index of each message, to map the transport's
  // refusals back to it.
  std::vector<size_t> index;
};

// Moves the events out of `request`. An event naming no queue is refused;
// so is each of its queues in `unusable`; an event left with no queue is
// not published.
PreparedBatch Prepare(ProduceRequest& request, const UnusableQueues& unusable) {
  PreparedBatch out;
  out.messages.reserve(request.events_size());
  for (int i = 0; i < request.events_size(); ++i) {
    auto& event = *request.mutable_events(i);
    if (event.queues().empty()) {
      out.refused.push_back(Refusal{
          static_cast<size_t>(i), "",
          absl::InvalidArgumentError(absl::StrCat(
              "events[", i, "] (id '", event.id(), "') names no queue"))});
      continue;
    }
    OutgoingMessage m;
    for (std::string& queue : *event.mutable_queues()) {
      auto bad = unusable.find(queue);
      if (bad != unusable.end()) {
        out.refused.push_back(
            Refusal{static_cast<size_t>(i), queue, bad->second});
      } else {
        m.queues.push_back(std::move(queue));
      }
    }
    if (m.queues.empty()) continue;
    m.id = std::move(*event.mutable_id());
    m.payload =
        std::make_shared<const std::string>(std::move(*event.mutable_event()));
    m.source = std::move(*event.mutable_source());
    m.type = std::move(*event.mutable_type());
    m.time_unix_nanos = event.time_unix_nanos();
    out.index.push_back(i);
    out.messages.push_back(std::move(m));
  }
  return out;
}

class ProduceStream final : public BidiStream<ProduceRequest, ProduceResponse> {
 public:
  // `refused`: the stream ends with it at once (the caller may not use
  // the bridge).
  ProduceStream(const TransportSource& transport,
                std::shared_ptr<ProduceCounters> counters, StreamSet* streams,
                size_t max_pending, absl::Status refused)
      : BidiStream(streams, max_pending),
        transport_(transport),
        counters_(std::move(counters)) {
    if (!refused.ok()) {
      writer()->Finish(ToGrpcStatus(refused));
      return;
    }
    StartStream();
  }

 private:
  void OnRequest(ProduceRequest& request) override {
    const uint64_t batch_id = request.batch_id();
    // Per batch: a reload may have swapped the transport since the last.
    std::shared_ptr<Transport> transport = transport_();
    UnusableQueues unusable;
    if (absl::Status s = Declare(*transport, request, &unusable); !s.ok()) {
      Answer(*writer(), batch_id, s);
      return;
    }
    PreparedBatch batch = Prepare(request, unusable);
    const uint64_t events = batch.messages.size();
    const uint64_t refused_here = batch.refused.size();
    std::shared_ptr<ProduceCounters> counters = counters_;
    counters->Handed(events);
    transport->Publish(
        std::move(batch.messages),
        [writer = writer(), batch_id, refused = std::move(batch.refused),
         index = std::move(batch.index), counters = std::move(counters), events,
         refused_here, start = absl::Now()](PublishResult result) mutable {
          counters->Published(events, refused_here + result.refused.size(),
                              result.status.ok(), absl::Now() - start);
          for (Refusal& r : result.refused) {
            r.message = index[r.message];
            refused.push_back(std::move(r));
          }
          Answer(*writer, batch_id, result.status, std::move(refused));
          if (!result.status.ok()) {
            // Later batches of this stream must not be stored before this
            // one is: end the stream, so the producer sends this batch and
            // everything after it again, in order, on a new one. (The
            // transports complete batches in order, and never fail one
            // while storing a later one.)
            writer->Finish(grpc::Status(
                grpc::StatusCode::ABORTED,
                absl::StrCat("batch ", batch_id,
                             " failed; nothing after it on this stream was "
                             "published: send again from it on a new stream "
                             "(",
                             result.status.message(), ")")));
          }
        });
  }

  static void Answer(Writer& writer, uint64_t batch_id,
                     const absl::Status& status,
                     std::vector<Refusal> refused = {}) {
    ProduceResponse response;
    response.set_batch_id(batch_id);
    response.set_code(static_cast<int32_t>(status.code()));
    if (!status.ok()) {
      response.set_message(std::string(status.message()));
      Logger("bridge")->warn("batch {} failed: {}", batch_id,
                             status.ToString());
    } else {
      std::sort(refused.begin(), refused.end(),
                [](const Refusal& a, const Refusal& b) {
                  return a.message < b.message;
                });
      for (Refusal& r : refused) {
        auto* out = response.add_refused();
        out->set_event_index(static_cast<uint32_t>(r.message));
        out->set_queue(std::move(r.queue));
        out->set_code(static_cast<int32_t>(r.status.code()));
        out->set_message(std::string(r.status.message()));
      }
    }
    writer.Send(std::move(response));
  }

  const TransportSource transport_;
  const std::shared_ptr<ProduceCounters> counters_;
};

}  // namespace

ProduceHandler::ProduceHandler(TransportSource transport,
                               std::shared_ptr<ProduceCounters> counters,
                               size_t max_pending_batches)
    : transport_(std::move(transport)),
      counters_(std::move(counters)),
      max_pending_batches_(max_pending_batches) {}

grpc::ServerBidiReactor<ProduceRequest, ProduceResponse>* ProduceHandler::Open(
    absl::Status refused) {
  return new ProduceStream(transport_, counters_, &streams_,
                           max_pending_batches_, std::move(refused));
}

}  // namespace switchboard::bridge
