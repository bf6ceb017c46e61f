// A minimal speaker of one region, as switchboard sees speakers: it
// publishes its switches' connections and heartbeats to the broadcaster,
// consumes region.<name> through the consumer service, answers alive and
// dump requests, and reports every command it receives as a
// `speaker.command.received` event (attributes command_id, command,
// targets, reason), so operators and tests can watch routing end to end.
// It holds no OpenFlow connections: the switches are given on the command
// line.
#include <grpcpp/grpcpp.h>

#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "services/broadcaster/speaker_protocol.h"
#include "services/common/client_channel.h"
#include "services/common/logging.h"
#include "switchboard/v1/broadcaster.grpc.pb.h"
#include "switchboard/v1/consumer.grpc.pb.h"
#include "tools/common/credential_flags.h"

ABSL_FLAG(std::string, broadcaster, "127.0.0.1:50051",
          "The broadcaster's address.");
ABSL_FLAG(std::string, consumer, "127.0.0.1:50052",
          "The consumer service's address.");
ABSL_FLAG(std::string, region, "", "This speaker's region. Required.");
ABSL_FLAG(std::string, switches, "",
          "The switches this speaker holds: comma-separated "
          "<switch id>[=RW|RO], e.g. 's1,s2=RO'. Default mode RW.");
ABSL_FLAG(std::string, ip, "10.0.0.1",
          "Address the switches connect from, as reported.");
ABSL_FLAG(std::string, queue_prefix,
          switchboard::broadcaster::kDefaultRegionQueuePrefix,
          "The broadcaster's regions.queue_prefix.");
ABSL_FLAG(absl::Duration, heartbeat_interval, absl::Seconds(1),
          "Heartbeats sent unasked this often; 0 for only on alive requests.");

namespace switchboard::speaker {
namespace {

using switchboard::v1::Event;

struct Switch {
  std::string id;
  switchboard::v1::ConnectionMode mode;
};

class Speaker {
 public:
  Speaker(std::string region, std::vector<Switch> switches, std::string ip)
      : region_(std::move(region)),
        switches_(std::move(switches)),
        ip_(std::move(ip)),
        log_(Logger("speaker")) {}

  bool Connect(const std::string& broadcaster,
               const ClientCredentials& credentials) {
    credentials_ = credentials;
    auto channel = CreateClientChannel(broadcaster, credentials_);
    publisher_ = switchboard::v1::Broadcaster::NewStub(channel);
    publish_ = publisher_->Publish(&publish_context_);
    // Answers are read and checked so a rejected event is visible.
    answers_ = std::thread([this] {
      switchboard::v1::PublishResponse response;
      while (publish_->Read(&response)) {
        for (const auto& r : response.rejections()) {
          log_->error("event rejected: {}", r.reason());
        }
      }
    });
    return true;
  }

  void Publish(std::vector<Event> events) {
    switchboard::v1::PublishRequest request;
    for (Event& e : events) {
      e.set_source("speaker/" + region_);
      *request.add_events() = std::move(e);
    }
    absl::MutexLock lock(&publish_mu_);
    request.set_batch_id(++batch_);
    if (!publish_->Write(request)) log_->error("the broadcaster went away");
  }

  Event Heartbeat() {
    Event e;
    e.set_type("speaker.heartbeat");
    e.mutable_heartbeat()->set_region(region_);
    e.mutable_heartbeat()->set_uptime_seconds(
        absl::ToInt64Seconds(absl::Now() - started_));
    return e;
  }

  std::vector<Event> SwitchEvents(switchboard::v1::SwitchStatus::Change change,
                                  const std::string& type) {
    std::vector<Event> events;
    for (const Switch& s : switches_) {
      Event& e = events.emplace_back();
      e.set_type(type);
      e.set_subject(s.id);
      auto* status = e.mutable_switch_status();
      status->set_switch_id(s.id);
      status->set_change(change);
      status->set_region(region_);
      status->set_ip(ip_);
      status->set_mode(s.mode);
    }
    return events;
  }

  void Announce() {
    std::vector<Event> events = {Heartbeat()};
    for (Event& e : SwitchEvents(switchboard::v1::SwitchStatus::CONNECTED,
                                 "speaker.switch.connected")) {
      events.push_back(std::move(e));
    }
    Publish(std::move(events));
  }

  // Consumes the region's queue until the stream ends.
  bool Serve(const std::string& consumer, const std::string& queue) {
    auto channel = CreateClientChannel(consumer, credentials_);
    auto stub = switchboard::v1::Consumer::NewStub(channel);
    grpc::ClientContext context;
    auto stream = stub->Subscribe(&context);
    switchboard::v1::SubscribeRequest open;
    open.mutable_open()->add_queues(queue);
    open.mutable_open()->set_credit(100);
    if (!stream->Write(open)) return false;
    log_->info("region {}: consuming {}", region_, queue);
    switchboard::v1::SubscribeResponse response;
    while (stream->Read(&response)) {
      switchboard::v1::SubscribeRequest ack;
      for (const auto& d : response.deliveries()) {
        Handle(d.event());
        ack.mutable_ack()->add_tags(d.tag());
      }
      stream->Write(ack);
    }
    grpc::Status status = stream->Finish();
    log_->error("subscription to {} ended: {}", queue, status.error_message());
    return status.ok();
  }

 private:
  void Handle(const Event& command) {
    if (!command.has_command()) return;
    const auto& c = command.command();
    std::vector<Event> events;
    Event& receipt = events.emplace_back();
    receipt.set_type("speaker.command.received");
    auto& a = *receipt.mutable_attributes();
    // `receipt` and `a` dangle once `events` grows below: what the log line
    // needs is kept aside.
    const std::string targets = absl::StrJoin(c.target_switches(), ",");
    a["command_id"] = command.id();
    a["command"] = c.name();
    a["targets"] = targets;
    a["region"] = region_;
    auto reason = command.attributes().find(broadcaster::kDumpReasonAttribute);
    if (reason != command.attributes().end()) a["reason"] = reason->second;
    if (c.name() == broadcaster::kAliveRequestCommand) {
      events.push_back(Heartbeat());
    } else if (c.name() == broadcaster::kDumpAllSwitchesCommand) {
      for (Event& e : SwitchEvents(switchboard::v1::SwitchStatus::DUMP,
                                   "speaker.switch.dump")) {
        events.push_back(std::move(e));
      }
    }
    log_->info("region {}: command {} ({}) for [{}]", region_, c.name(),
               command.id(), targets);
    Publish(std::move(events));
  }

  const std::string region_;
  const std::vector<Switch> switches_;
  const std::string ip_;
  const absl::Time started_ = absl::Now();
  std::shared_ptr<spdlog::logger> log_;
  ClientCredentials credentials_;

  std::unique_ptr<switchboard::v1::Broadcaster::Stub> publisher_;
  grpc::ClientContext publish_context_;
  std::unique_ptr<grpc::ClientReaderWriter<switchboard::v1::PublishRequest,
                                           switchboard::v1::PublishResponse>>
      publish_;
  std::thread answers_;
  absl::Mutex publish_mu_;
  uint64_t batch_ = 0;
};

}  // namespace
}  // namespace switchboard::speaker

int main(int argc, char** argv) {
  using switchboard::speaker::Speaker;
  using switchboard::speaker::Switch;
  absl::SetProgramUsageMessage(
      "A minimal region speaker: publishes its switches to the broadcaster "
      "and answers the commands of region.<region>.");
  absl::ParseCommandLine(argc, argv);
  auto log = switchboard::Logger("speaker");
  const std::string region = absl::GetFlag(FLAGS_region);
  if (region.empty()) {
    log->critical("--region is required");
    return 2;
  }
  std::vector<Switch> switches;
  for (absl::string_view spec :
       absl::StrSplit(absl::GetFlag(FLAGS_switches), ',', absl::SkipEmpty())) {
    std::vector<std::string> parts = absl::StrSplit(spec, '=');
    Switch s{parts[0], switchboard::v1::RW};
    if (parts.size() == 2 && parts[1] == "RO") {
      s.mode = switchboard::v1::RO;
    } else if (parts.size() != 1 && !(parts.size() == 2 && parts[1] == "RW")) {
      log->critical("--switches: '{}' is not <id>[=RW|RO]", std::string(spec));
      return 2;
    }
    switches.push_back(std::move(s));
  }
  Speaker speaker(region, std::move(switches), absl::GetFlag(FLAGS_ip));
  absl::StatusOr<switchboard::ClientCredentials> credentials =
      switchboard::tools::CredentialsFromFlags();
  if (!credentials.ok()) {
    log->critical("{}", std::string(credentials.status().message()));
    return 2;
  }
  speaker.Connect(absl::GetFlag(FLAGS_broadcaster), *credentials);
  speaker.Announce();
  const absl::Duration interval = absl::GetFlag(FLAGS_heartbeat_interval);
  if (interval > absl::ZeroDuration()) {
    std::thread([&speaker, interval] {
      while (true) {
        absl::SleepFor(interval);
        speaker.Publish({speaker.Heartbeat()});
      }
    }).detach();
  }
  const std::string queue = absl::GetFlag(FLAGS_queue_prefix) + region;
  // The queue exists once the broadcaster routed something to it (its
  // dump request answers our first message): retry until it does.
  while (true) {
    speaker.Serve(absl::GetFlag(FLAGS_consumer), queue);
    absl::SleepFor(absl::Milliseconds(200));
  }
}
