#include "tests/testing/cluster.h"

#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "services/common/grpc_status.h"

namespace switchboard::testing {

using switchboard::v1::Event;
using switchboard::v1::PublishRequest;
using switchboard::v1::PublishResponse;
using switchboard::v1::SubscribeRequest;
using switchboard::v1::SubscribeResponse;

namespace {

constexpr absl::Duration kStartTimeout = absl::Seconds(30);

std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

}  // namespace

Cluster::Cluster(Options options)
    : options_(std::move(options)), dir_(NewTempDir("cluster")) {}

absl::StatusOr<std::unique_ptr<Cluster>> Cluster::Start(Options options) {
  auto cluster = std::unique_ptr<Cluster>(new Cluster(std::move(options)));
  if (absl::Status s = cluster->StartBridge(); !s.ok()) return s;
  if (absl::Status s = cluster->StartBroadcaster(); !s.ok()) return s;
  if (absl::Status s = cluster->StartConsumer(); !s.ok()) return s;
  return cluster;
}

std::string Cluster::Log(const std::string& service) const {
  return ReadFile(absl::StrCat(dir_, "/", service, ".log"));
}

absl::Status Cluster::StartService(const std::string& name,
                                   const std::string& binary,
                                   const std::string& yaml, int* port,
                                   std::unique_ptr<Process>* slot) {
  slot->reset();
  std::string config = absl::StrCat(dir_, "/", name, ".yaml");
  std::string port_file = absl::StrCat(dir_, "/", name, ".port");
  std::string log = absl::StrCat(dir_, "/", name, ".log");
  WriteFile(config, absl::StrReplaceAll(yaml, {{"$BRIDGE", bridge_address()}}));
  std::remove(port_file.c_str());
  const std::string metrics_port_file =
      absl::StrCat(dir_, "/", name, ".metrics_port");
  std::remove(metrics_port_file.c_str());
  std::vector<std::string> args = {"--config",
                                   config,
                                   "--port_file",
                                   port_file,
                                   "--metrics_port_file",
                                   metrics_port_file,
                                   "--shutdown_grace",
                                   "2s"};
  if (options_.mutex_deadlock_detection) {
    args.push_back("--mutex_deadlock_detection");
  }
  // A restarted service keeps its port, so clients can find it again.
  if (*port != 0) args.push_back(absl::StrCat("--listen=", Address(*port)));
  Process::Options o;
  o.stderr_path = log;
  o.stdout_path = log;
  auto process = Process::Start(Runfile(binary), args, o);
  if (!process.ok()) return process.status();
  auto bound = WaitForPortFile(port_file, **process, log, kStartTimeout);
  if (!bound.ok()) return bound.status();
  *port = *bound;
  *slot = *std::move(process);
  return absl::OkStatus();
}

void Cluster::RewriteConfig(const std::string& service,
                            const std::string& yaml) {
  if (service == "bridge") options_.bridge_yaml = yaml;
  if (service == "broadcaster") options_.broadcaster_yaml = yaml;
  if (service == "consumer") options_.consumer_yaml = yaml;
  WriteFile(absl::StrCat(dir_, "/", service, ".yaml"),
            absl::StrReplaceAll(yaml, {{"$BRIDGE", bridge_address()}}));
}

absl::Status Cluster::StartBridge() {
  return StartService("bridge", "services/mq-bridge/mq-bridge",
                      options_.bridge_yaml, &bridge_port_, &bridge_);
}

absl::Status Cluster::StartBroadcaster() {
  return StartService("broadcaster", "services/broadcaster/broadcaster",
                      options_.broadcaster_yaml, &broadcaster_port_,
                      &broadcaster_);
}

absl::Status Cluster::StartConsumer() {
  return StartService("consumer", "services/consumer/consumer",
                      options_.consumer_yaml, &consumer_port_, &consumer_);
}

int Cluster::MetricsPort(const std::string& service) const {
  int port = 0;
  const std::string text =
      ReadFile(absl::StrCat(dir_, "/", service, ".metrics_port"));
  return absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &port) ? port : 0;
}

uint64_t Cluster::QueueDepth(const std::string& queue) const {
  auto queues = ListQueues(consumer_address());
  if (!queues.ok()) return kNoQueue;
  for (const auto& q : queues->queues()) {
    if (q.name() == queue) return q.depth();
  }
  return kNoQueue;
}

::testing::AssertionResult Cluster::AwaitDepth(const std::string& queue,
                                               uint64_t depth) const {
  uint64_t seen = kNoQueue;
  if (Eventually([&] { return (seen = QueueDepth(queue)) == depth; })) {
    return ::testing::AssertionSuccess();
  }
  auto failure = ::testing::AssertionFailure() << "queue '" << queue << "': ";
  if (seen == kNoQueue) {
    failure << "not listed";
  } else {
    failure << "depth " << seen;
  }
  return failure << ", waited for depth " << depth << "\n--- broadcaster\n"
                 << Log("broadcaster") << "--- bridge\n"
                 << Log("bridge");
}

void ExpectExactlyOnceInSourceOrder(
    const std::vector<switchboard::v1::EventDelivery>& got,
    const std::map<std::string, int>& sent) {
  std::map<std::string, uint64_t> last;
  std::set<std::string> ids;
  for (const auto& d : got) {
    const auto& e = d.event();
    EXPECT_TRUE(ids.insert(e.id()).second) << "duplicate " << e.id();
    EXPECT_EQ(e.sequence(), last[e.source()] + 1)
        << "out of order from " << e.source();
    last[e.source()] = e.sequence();
  }
  for (const auto& [source, n] : sent) {
    EXPECT_EQ(last[source], static_cast<uint64_t>(n)) << source;
  }
}

std::vector<Event> MakeEvents(const std::string& source,
                              const std::string& type, int n,
                              size_t payload_bytes) {
  std::vector<Event> events(n);
  for (int i = 0; i < n; ++i) {
    events[i].set_source(source);
    events[i].set_type(type);
    events[i].set_binary_data(std::string(payload_bytes, 'x'));
    (*events[i].mutable_attributes())["i"] = std::to_string(i);
  }
  return events;
}

void AddToken(grpc::ClientContext& context, const std::string& token) {
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
}

absl::StatusOr<std::vector<PublishResponse>> Publish(const std::string& address,
                                                     std::vector<Event> events,
                                                     size_t per_batch,
                                                     const std::string& token) {
  auto stub = switchboard::v1::Broadcaster::NewStub(Channel(address));
  grpc::ClientContext context;
  AddToken(context, token);
  auto stream = stub->Publish(&context);
  size_t batches = 0;
  std::vector<PublishResponse> answers;
  std::thread reader([&] {
    PublishResponse r;
    while (stream->Read(&r)) answers.push_back(r);
  });
  for (size_t i = 0; i < events.size(); i += per_batch) {
    PublishRequest request;
    request.set_batch_id(++batches);
    for (size_t j = i; j < std::min(events.size(), i + per_batch); ++j) {
      *request.add_events() = std::move(events[j]);
    }
    if (!stream->Write(request)) break;
  }
  stream->WritesDone();
  reader.join();
  grpc::Status status = stream->Finish();
  if (!status.ok()) return FromGrpcStatus(status);
  if (answers.size() != batches) {
    return absl::InternalError(absl::StrCat("sent ", batches, " batches, got ",
                                            answers.size(), " answers"));
  }
  return answers;
}

absl::StatusOr<switchboard::v1::ListQueuesResponse> ListQueues(
    const std::string& consumer_address, const std::string& token) {
  auto stub = switchboard::v1::Consumer::NewStub(Channel(consumer_address));
  grpc::ClientContext context;
  AddToken(context, token);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  switchboard::v1::ListQueuesResponse response;
  grpc::Status s = stub->ListQueues(
      &context, switchboard::v1::ListQueuesRequest(), &response);
  if (!s.ok()) return FromGrpcStatus(s);
  return response;
}

absl::StatusOr<switchboard::v1::BroadcasterStats> GetBroadcasterStats(
    const std::string& broadcaster_address, const std::string& token) {
  auto stub =
      switchboard::v1::Broadcaster::NewStub(Channel(broadcaster_address));
  grpc::ClientContext context;
  AddToken(context, token);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  switchboard::v1::BroadcasterStats response;
  grpc::Status s =
      stub->GetStats(&context, switchboard::v1::GetStatsRequest(), &response);
  if (!s.ok()) return FromGrpcStatus(s);
  return response;
}

absl::StatusOr<switchboard::v1::ReloadResponse> ReloadSettings(
    const std::string& address, const std::string& token) {
  auto stub = switchboard::v1::Admin::NewStub(Channel(address));
  grpc::ClientContext context;
  AddToken(context, token);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  switchboard::v1::ReloadResponse response;
  grpc::Status s =
      stub->Reload(&context, switchboard::v1::ReloadRequest(), &response);
  if (!s.ok()) return FromGrpcStatus(s);
  return response;
}

absl::StatusOr<std::unique_ptr<Subscriber>> Subscriber::Open(
    const std::string& consumer_address, const std::vector<std::string>& queues,
    uint32_t credit, bool auto_ack) {
  switchboard::v1::SubscribeOpen open;
  for (const std::string& q : queues) open.add_queues(q);
  open.set_credit(credit);
  return Open(consumer_address, open, auto_ack);
}

absl::StatusOr<std::unique_ptr<Subscriber>> Subscriber::Open(
    const std::string& consumer_address,
    const switchboard::v1::SubscribeOpen& open, bool auto_ack,
    const std::string& token) {
  auto s = std::unique_ptr<Subscriber>(new Subscriber());
  s->channel_ = Channel(consumer_address);
  s->stub_ = switchboard::v1::Consumer::NewStub(s->channel_);
  s->auto_ack_ = auto_ack;
  AddToken(s->context_, token);
  s->stream_ = s->stub_->Subscribe(&s->context_);
  SubscribeRequest request;
  *request.mutable_open() = open;
  if (!s->stream_->Write(request)) {
    // The service ended the stream at once; say why.
    grpc::Status status = s->stream_->Finish();
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        absl::StrCat("the Subscribe stream ended at once: ",
                                     status.error_message()));
  }
  s->reader_ = std::thread([p = s.get()] { p->ReadLoop(); });
  return s;
}

Subscriber::~Subscriber() {
  Cancel();
  if (reader_.joinable()) reader_.join();
}

void Subscriber::ReadLoop() {
  SubscribeResponse response;
  while (stream_->Read(&response)) {
    std::vector<uint64_t> tags;
    {
      absl::MutexLock lock(&mu_);
      for (auto& d : *response.mutable_deliveries()) {
        tags.push_back(d.tag());
        deliveries_.push_back(std::move(d));
      }
    }
    if (auto_ack_) Ack(tags);
  }
  grpc::Status status = stream_->Finish();
  absl::MutexLock lock(&mu_);
  ended_ = true;
  status_ = status;
}

std::vector<switchboard::v1::EventDelivery> Subscriber::WaitFor(
    size_t n, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return ended_ || deliveries_.size() >= n;
  };
  mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  return deliveries_;
}

size_t Subscriber::count() {
  absl::MutexLock lock(&mu_);
  return deliveries_.size();
}

void Subscriber::Ack(const std::vector<uint64_t>& tags) {
  SubscribeRequest ack;
  for (uint64_t t : tags) ack.mutable_ack()->add_tags(t);
  absl::MutexLock lock(&write_mu_);
  stream_->Write(ack);
}

void Subscriber::Cancel() { context_.TryCancel(); }

grpc::Status Subscriber::Wait(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return ended_; };
  if (!mu_.AwaitWithTimeout(absl::Condition(&ended), timeout)) {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                        "the stream did not end");
  }
  return status_;
}

}  // namespace switchboard::testing
