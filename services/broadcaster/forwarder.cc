#include "services/broadcaster/forwarder.h"

#include <grpcpp/grpcpp.h>

#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/broadcaster/forwarder_connection.h"
#include "services/common/logging.h"
#include "services/common/metrics/metrics.h"
#include "switchboard/v1/bridge.grpc.pb.h"

namespace switchboard::broadcaster {

using forwarder_internal::kReconfigureDrain;
using switchboard::v1::ProduceRequest;
using switchboard::v1::ProduceResponse;

Forwarder::Forwarder(Options options, EventBuffer* buffer)
    : buffer_(buffer),
      options_(std::move(options)),
      answer_latency_(LatencyBuckets()) {}

Forwarder::~Forwarder() { Stop(absl::ZeroDuration()); }

void Forwarder::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Forwarder::Reconfigure(Options options) {
  absl::MutexLock lock(&options_mu_);
  pending_ = std::move(options);
  const uint64_t mine = ++requested_;
  if (!thread_.joinable()) {
    options_ = *std::move(pending_);
    pending_.reset();
    applied_ = mine;
    return;
  }
  auto applied = [this, mine]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(options_mu_) {
    return applied_ >= mine || stopping_flag_;
  };
  // Bounded: a bridge that never answers must not hang a reload forever.
  if (!options_mu_.AwaitWithTimeout(absl::Condition(&applied),
                                    kReconfigureDrain + absl::Seconds(5))) {
    Logger("broadcaster")
        ->warn(
            "the new bridge settings are not in force yet; they will be "
            "once the current stream closes");
  }
}

bool Forwarder::reconfiguring() const {
  absl::MutexLock lock(&options_mu_);
  return pending_.has_value();
}

Forwarder::Options Forwarder::TakeOptions() {
  absl::MutexLock lock(&options_mu_);
  if (pending_.has_value()) {
    options_ = *std::move(pending_);
    pending_.reset();
    applied_ = requested_;
  }
  return options_;
}

void Forwarder::Stop(absl::Duration flush_timeout) {
  if (!thread_.joinable()) return;
  if (!buffer_->WaitEmpty(flush_timeout)) {
    if (buffer_->disk() != nullptr) {
      Logger("broadcaster")
          ->warn(
              "shutting down with {} events not confirmed by the bridge; the "
              "disk buffer keeps them for the next start",
              buffer_->stats().events);
    } else {
      Logger("broadcaster")
          ->error(
              "shutting down with {} events not confirmed by the bridge "
              "(they are lost)",
              buffer_->stats().events);
    }
  }
  {
    absl::MutexLock lock(&options_mu_);
    stopping_flag_ = true;
  }
  stopping_.Notify();
  buffer_->Close();
  thread_.join();
}

Forwarder::Stats Forwarder::stats() const {
  return Stats{forwarded_.load(), connects_.load(), connected_.load(),
               refused_.load(), batches_.load()};
}

void Forwarder::NoteRefusals(const ProduceRequest& batch,
                             const ProduceResponse& answer,
                             std::vector<EventBuffer::Ref>* refs) {
  refused_ += answer.refused_size();
  // Each refused copy's token is lost, and taken out of `refs` (which the
  // caller then releases: the copy is done with, stored or not).
  for (const auto& r : answer.refused()) {
    if (r.event_index() >= refs->size()) continue;
    uint64_t& token = (*refs)[r.event_index()].token;
    if (token == 0) continue;
    const uint64_t lost[] = {token};
    buffer_->LoseTokens(
        lost, absl::Status(static_cast<absl::StatusCode>(r.code()),
                           absl::StrCat("queue '", r.queue(),
                                        "' refused it: ", r.message())));
    token = 0;
  }
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&refusal_log_mu_);
  unlogged_refusals_ += answer.refused_size();
  if (now - last_refusal_log_ < absl::Seconds(5)) return;
  // One example per report: the queue and why; the counts are in GetStats
  // and, per queue, in ListQueues.
  const auto& r = answer.refused(0);
  const std::string id =
      r.event_index() < static_cast<uint32_t>(batch.events_size())
          ? batch.events(r.event_index()).id()
          : "?";
  Logger("broadcaster")
      ->warn(
          "the bridge refused {} event copies since the last report (queue "
          "full with reject-publish, or not transportable); e.g. event {} "
          "for queue '{}': {}",
          unlogged_refusals_, id, r.queue(), r.message());
  unlogged_refusals_ = 0;
  last_refusal_log_ = now;
}

bool Forwarder::Backoff(absl::Duration* delay) {
  absl::MutexLock lock(&options_mu_);
  auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(options_mu_) {
    return stopping_flag_ || pending_.has_value();
  };
  options_mu_.AwaitWithTimeout(absl::Condition(&wake), *delay);
  *delay = std::min(*delay * 2, options_.backoff_max);
  return !stopping_flag_;
}

void Forwarder::Run() {
  auto log = Logger("broadcaster");
  Options options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<switchboard::v1::Bridge::Stub> stub;
  absl::Duration delay;
  while (!stopping_.HasBeenNotified()) {
    if (channel == nullptr || reconfiguring()) {
      const std::string old_address = options.bridge_address;
      const ClientCredentials old_credentials = options.bridge_credentials;
      options = TakeOptions();
      delay = options.backoff_initial;
      if (channel == nullptr || options.bridge_address != old_address ||
          options.bridge_credentials.tls != old_credentials.tls ||
          options.bridge_credentials.token != old_credentials.token) {
        grpc::ChannelArguments args;
        args.SetMaxSendMessageSize(64 << 20);
        args.SetMaxReceiveMessageSize(64 << 20);
        // Keepalive, as ServerLimits' defaults (services/common/
        // server_limits.h): a bridge that stops answering without closing
        // the connection (host gone, process frozen) is noticed within
        // about 30 s, even while the stream is idle.
        args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
        args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
        args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
        args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
        args.SetInt(GRPC_ARG_HTTP2_MIN_SENT_PING_INTERVAL_WITHOUT_DATA_MS,
                    20000);
        channel = CreateClientChannel(options.bridge_address,
                                      options.bridge_credentials, args);
        stub = switchboard::v1::Bridge::NewStub(channel);
      }
    }
    // Wait for the bridge before opening a stream: a stream opened on a
    // dead channel fails at once and would spin.
    if (!channel->WaitForConnected(
            absl::ToChronoTime(absl::Now() + absl::Milliseconds(500)))) {
      if (connected_.exchange(false)) {
        log->warn("bridge {} unreachable; buffering", options.bridge_address);
      }
      if (!Backoff(&delay)) break;
      continue;
    }
    ++connects_;
    connected_ = true;
    log->info("connected to bridge {}", options.bridge_address);
    Connection connection(this, options, stub.get());
    if (connection.Pump()) delay = options.backoff_initial;
    connected_ = false;
    if (stopping_.HasBeenNotified()) break;
    if (reconfiguring()) continue;
    if (!Backoff(&delay)) break;
  }
}

}  // namespace switchboard::broadcaster
