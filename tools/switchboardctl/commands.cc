#include "tools/switchboardctl/commands.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <deque>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "services/common/status_macros.h"
#include "services/common/grpc_status.h"
#include "tools/switchboardctl/event_input.h"

namespace switchboard::ctl {
namespace {

// Batches and deliveries are bigger than gRPC's 4 MiB default allows; the
// services accept 64 MiB.
constexpr int kMaxMessageBytes = 64 << 20;

// Runs one `publish`: the caller's thread writes batches, a second thread
// reads the answers, so neither side can stall the other whatever the batch
// sizes. Both share the window of unanswered batches.
class PublishRun {
 public:
  PublishRun(v1::Broadcaster::StubInterface& stub,
             const PublishOptions& options, std::ostream& out,
             std::ostream& err, PublishSummary* summary)
      : stub_(stub),
        options_(options),
        out_(out),
        err_(err),
        summary_(summary) {}

  absl::Status Run() {
    {
      absl::MutexLock lock(&mu_);
      *summary_ = PublishSummary();
    }
    stream_ = stub_.Publish(&context_);
    std::thread reader([this] { ReadAnswers(); });
    if (options_.input != nullptr) {
      WriteFromInput();
    } else {
      WriteFromFlags();
    }
    stream_->WritesDone();
    reader.join();
    const grpc::Status status = stream_->Finish();

    absl::MutexLock lock(&mu_);
    out_.flush();
    if (!protocol_error_.ok()) return protocol_error_;
    int64_t unanswered = 0;
    for (const PendingBatch& batch : pending_) unanswered += batch.size;
    if (!status.ok()) {
      absl::Status error = RpcError("Publish", status);
      if (unanswered == 0) return error;
      return absl::Status(error.code(),
                          absl::StrCat(error.message(), " (", unanswered,
                                       " sent events unanswered)"));
    }
    if (!pending_.empty()) {
      return absl::DataLossError(absl::StrCat(
          "Publish: the broadcaster ended the stream without answering ",
          pending_.size(), " batches (", unanswered, " events)"));
    }
    return input_error_;
  }

 private:
  struct PendingBatch {
    uint64_t batch_id;
    int size;
  };

  bool CanSend() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return reader_done_ || pending_.size() < kPublishWindow;
  }

  // Sends `request` under the next batch id once the window has room.
  // Returns false when the stream can take no more.
  bool Send(v1::PublishRequest& request) {
    request.set_batch_id(next_batch_id_++);
    if (options_.confirm) request.set_acceptance(v1::CONFIRMED);
    {
      absl::MutexLock lock(&mu_, absl::Condition(this, &PublishRun::CanSend));
      if (reader_done_) return false;
      pending_.push_back({request.batch_id(), request.events_size()});
    }
    return stream_->Write(request);
  }

  void WriteFromFlags() {
    v1::PublishRequest full;
    const int64_t full_size =
        std::min<int64_t>(options_.batch_size, options_.count);
    for (int64_t i = 0; i < full_size; ++i) *full.add_events() = options_.event;
    int64_t remaining = options_.count;
    while (remaining >= full_size && remaining > 0) {
      if (!Send(full)) return;
      remaining -= full_size;
    }
    if (remaining > 0) {
      v1::PublishRequest last;
      for (int64_t i = 0; i < remaining; ++i) {
        *last.add_events() = options_.event;
      }
      Send(last);
    }
  }

  void WriteFromInput() {
    v1::PublishRequest request;
    std::string line;
    int64_t line_number = 0;
    while (std::getline(*options_.input, line)) {
      ++line_number;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (IsBlankLine(line)) continue;
      absl::StatusOr<v1::Event> event = ParseEventJsonLine(line, line_number);
      if (!event.ok()) {
        absl::MutexLock lock(&mu_);
        ++summary_->malformed_lines;
        err_ << "switchboardctl: " << event.status().message() << "\n";
        err_.flush();
        continue;
      }
      *request.add_events() = *std::move(event);
      if (request.events_size() >= options_.batch_size) {
        if (!Send(request)) return;
        request.Clear();
      }
    }
    if (options_.input->bad()) {
      absl::MutexLock lock(&mu_);
      input_error_ = absl::DataLossError(
          absl::StrCat("reading the input failed after line ", line_number));
    }
    if (request.events_size() > 0) Send(request);
  }

  void ReadAnswers() {
    v1::PublishResponse response;
    while (stream_->Read(&response)) {
      absl::MutexLock lock(&mu_);
      if (pending_.empty() ||
          pending_.front().batch_id != response.batch_id()) {
        protocol_error_ = absl::InternalError(
            pending_.empty()
                ? absl::StrCat("Publish: the broadcaster answered batch ",
                               response.batch_id(), ", which is not pending")
                : absl::StrCat("Publish: the broadcaster answered batch ",
                               response.batch_id(), " while batch ",
                               pending_.front().batch_id, " was due"));
        context_.TryCancel();
        break;
      }
      const PendingBatch batch = pending_.front();
      pending_.pop_front();
      for (const v1::Rejection& rejection : response.rejections()) {
        err_ << "rejected event " << rejection.index() << ": "
             << rejection.reason() << "\n";
      }
      if (response.rejections_size() > 0) err_.flush();
      if (options_.print_ids) {
        for (const std::string& id : response.event_ids()) {
          if (!id.empty()) out_ << id << "\n";
        }
      }
      summary_->published += batch.size;
      summary_->accepted += response.accepted();
      summary_->rejected += response.rejections_size();
    }
    absl::MutexLock lock(&mu_);
    reader_done_ = true;
  }

  v1::Broadcaster::StubInterface& stub_;
  const PublishOptions& options_;
  // Declared before the stream, which must not outlive it.
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriterInterface<v1::PublishRequest,
                                                    v1::PublishResponse>>
      stream_;
  // Only the writing thread uses it.
  uint64_t next_batch_id_ = 1;

  absl::Mutex mu_;
  std::ostream& out_ ABSL_GUARDED_BY(mu_);
  std::ostream& err_ ABSL_GUARDED_BY(mu_);
  PublishSummary* summary_ ABSL_GUARDED_BY(mu_);
  std::deque<PendingBatch> pending_ ABSL_GUARDED_BY(mu_);
  bool reader_done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status protocol_error_ ABSL_GUARDED_BY(mu_);
  absl::Status input_error_ ABSL_GUARDED_BY(mu_);
};

std::string Pad(absl::string_view text, size_t width) {
  std::string padded(text);
  if (padded.size() < width) padded.append(width - padded.size(), ' ');
  return padded;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(
    const std::string& address, absl::Duration timeout,
    const ClientCredentials& credentials) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  std::shared_ptr<grpc::Channel> channel =
      CreateClientChannel(address, credentials, args);
  if (!channel->WaitForConnected(absl::ToChronoTime(absl::Now() + timeout))) {
    return absl::UnavailableError(absl::StrCat(
        "cannot reach ", address, " within ", absl::FormatDuration(timeout)));
  }
  return channel;
}

absl::Status RpcError(absl::string_view call, const grpc::Status& status) {
  const absl::Status error = FromGrpcStatus(status);
  if (error.ok()) return error;
  std::string message =
      absl::StrCat(call, " failed: ", absl::StatusCodeToString(error.code()));
  if (!error.message().empty())
    absl::StrAppend(&message, ": ", error.message());
  return absl::Status(error.code(), message);
}

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message,
                                   bool pretty, bool print_defaults) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  options.always_print_primitive_fields = print_defaults;
  std::string json;
  google::protobuf::util::Status status =
      google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    const auto text = status.message();
    return absl::InternalError(absl::StrCat(
        "cannot print ", message.GetTypeName(),
        " as JSON: ", absl::string_view(text.data(), text.size())));
  }
  while (!json.empty() && json.back() == '\n') json.pop_back();
  return json;
}

std::string PublishSummary::ToString() const {
  return absl::StrCat("published ", published, " events (accepted ", accepted,
                      ", rejected ", rejected, ")");
}

absl::Status Publish(v1::Broadcaster::StubInterface& stub,
                     const PublishOptions& options, std::ostream& out,
                     std::ostream& err, PublishSummary* summary) {
  PublishRun run(stub, options, out, err, summary);
  return run.Run();
}

absl::Status Tail(v1::Consumer::StubInterface& stub, const TailOptions& options,
                  std::ostream& out) {
  grpc::ClientContext context;
  auto stream = stub.Subscribe(&context);

  v1::SubscribeRequest open;
  for (const std::string& queue : options.queues) {
    open.mutable_open()->add_queues(queue);
  }
  open.mutable_open()->set_credit(options.credit);

  int64_t printed = 0;
  bool enough = false;
  absl::Status output_error;
  if (stream->Write(open)) {
    v1::SubscribeResponse response;
    while (!enough && output_error.ok() && stream->Read(&response)) {
      v1::SubscribeRequest ack;
      for (const v1::EventDelivery& delivery : response.deliveries()) {
        if (options.count > 0 && printed >= options.count) break;
        SB_ASSIGN_OR_RETURN(std::string line, ToJson(delivery, /*pretty=*/false,
                                                     /*print_defaults=*/false));
        out << line << "\n";
        out.flush();
        if (!out) {
          output_error = absl::DataLossError(
              "cannot write to the output; the subscription ends");
          break;
        }
        ++printed;
        if (options.ack) ack.mutable_ack()->add_tags(delivery.tag());
      }
      enough = options.count > 0 && printed >= options.count;
      if (ack.ack().tags_size() > 0 && !stream->Write(ack)) break;
    }
  }

  if (enough || !output_error.ok()) {
    // Ask the service to end the stream after our acks (a half-close alone
    // would not: it delivers up to the credit first); it returns what we
    // did not ack to the queues. A service that keeps the stream open gets
    // close_timeout, then the stream is cancelled.
    v1::SubscribeRequest close;
    close.mutable_close();
    stream->Write(close);
    stream->WritesDone();
    absl::Notification drained;
    std::thread watchdog([&] {
      if (!drained.WaitForNotificationWithTimeout(options.close_timeout)) {
        context.TryCancel();
      }
    });
    v1::SubscribeResponse ignored;
    while (stream->Read(&ignored)) {
    }
    drained.Notify();
    watchdog.join();
    const grpc::Status status = stream->Finish();
    if (!output_error.ok()) return output_error;
    if (status.ok() || status.error_code() == grpc::StatusCode::CANCELLED) {
      return absl::OkStatus();
    }
    return RpcError("Subscribe", status);
  }

  const grpc::Status status = stream->Finish();
  if (!status.ok()) return RpcError("Subscribe", status);
  if (options.count > 0) {
    return absl::DataLossError(
        absl::StrCat("the consumer service ended the subscription after ",
                     printed, " of ", options.count, " deliveries"));
  }
  return absl::OkStatus();
}

std::string FormatQueueTable(const v1::ListQueuesResponse& response) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"NAME", "DEPTH", "UNACKED", "SUBSCRIBERS", "LAST_VALUE",
                  "DROPPED", "REJECTED", "EXPIRED", "DEAD_LETTERED"});
  for (const v1::QueueInfo& queue : response.queues()) {
    rows.push_back(
        {queue.name(), absl::StrCat(queue.depth()),
         absl::StrCat(queue.unacked()), absl::StrCat(queue.subscribers()),
         queue.last_value() ? "yes" : "no", absl::StrCat(queue.dropped()),
         absl::StrCat(queue.rejected()), absl::StrCat(queue.expired()),
         absl::StrCat(queue.dead_lettered())});
  }
  std::vector<size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  std::string table;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      if (i + 1 == row.size()) {
        absl::StrAppend(&line, row[i]);
      } else {
        absl::StrAppend(&line, Pad(row[i], widths[i] + 2));
      }
    }
    absl::StrAppend(&table, line, "\n");
  }
  return table;
}

absl::Status ListQueues(v1::Consumer::StubInterface& stub,
                        const std::vector<std::string>& queues, bool json,
                        absl::Duration timeout, std::ostream& out) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  v1::ListQueuesRequest request;
  for (const std::string& queue : queues) request.add_queues(queue);
  v1::ListQueuesResponse response;
  const grpc::Status status = stub.ListQueues(&context, request, &response);
  if (!status.ok()) return RpcError("ListQueues", status);
  if (json) {
    SB_ASSIGN_OR_RETURN(std::string text, ToJson(response, /*pretty=*/true,
                                                 /*print_defaults=*/true));
    out << text << "\n";
  } else {
    out << FormatQueueTable(response);
  }
  out.flush();
  return absl::OkStatus();
}

absl::Status PrintStats(v1::Broadcaster::StubInterface& stub,
                        absl::Duration timeout, std::ostream& out) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  v1::BroadcasterStats stats;
  const grpc::Status status =
      stub.GetStats(&context, v1::GetStatsRequest(), &stats);
  if (!status.ok()) return RpcError("GetStats", status);
  SB_ASSIGN_OR_RETURN(std::string text,
                      ToJson(stats, /*pretty=*/true, /*print_defaults=*/true));
  out << text << "\n";
  out.flush();
  return absl::OkStatus();
}

}  // namespace switchboard::ctl
