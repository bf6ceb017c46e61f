#include "tools/switchboardctl/status.h"

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/struct.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tools/switchboardctl/commands.h"
#include "switchboard/v1/bridge.grpc.pb.h"
#include "switchboard/v1/broadcaster.grpc.pb.h"
#include "switchboard/v1/consumer.grpc.pb.h"
#include "switchboard/v1/regions.grpc.pb.h"

namespace switchboard::ctl {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

std::unique_ptr<grpc::ClientContext> Deadline(absl::Duration timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

// SERVING only when the server and `service_name` both are.
std::string Health(const std::shared_ptr<grpc::Channel>& channel,
                   const std::string& service_name, absl::Duration timeout) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  for (const std::string& name : {std::string(), service_name}) {
    HealthCheckRequest request;
    request.set_service(name);
    HealthCheckResponse response;
    const grpc::Status s =
        stub->Check(Deadline(timeout).get(), request, &response);
    if (!s.ok()) return std::string(RpcError("Health/Check", s).message());
    if (response.status() != HealthCheckResponse::SERVING) {
      return HealthCheckResponse::ServingStatus_Name(response.status());
    }
  }
  return "SERVING";
}

// The channel to `service`, with its health filled in; null when it did not
// answer (service.error says why).
std::shared_ptr<grpc::Channel> Reach(StatusReport::Service& service,
                                     const std::string& service_name,
                                     const StatusOptions& options) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      Connect(service.address, options.timeout, options.credentials);
  if (!channel.ok()) {
    service.health = "UNREACHABLE";
    service.error = std::string(channel.status().message());
    return nullptr;
  }
  service.health = Health(*channel, service_name, options.timeout);
  return *channel;
}

void AskBroadcaster(StatusReport::Service& service,
                    const StatusOptions& options, StatusReport& report) {
  auto channel =
      Reach(service, v1::Broadcaster::service_full_name(), options);
  if (channel == nullptr) return;
  v1::BroadcasterStats stats;
  grpc::Status s = v1::Broadcaster::NewStub(channel)->GetStats(
      Deadline(options.timeout).get(), v1::GetStatsRequest(), &stats);
  if (!s.ok()) {
    service.error = std::string(RpcError("GetStats", s).message());
    return;
  }
  report.have_broadcaster = true;
  report.buffered = stats.buffered();
  report.buffered_bytes = stats.buffered_bytes();
  report.buffer_limit_events = stats.buffer_limit_events();
  report.buffer_limit_bytes = stats.buffer_limit_bytes();
  report.bridge_connected = stats.bridge_connected();
  report.accepted = stats.accepted();
  report.rejected = stats.rejected_invalid() + stats.rejected_full() +
                    stats.rejected_queue_cap();
  report.dropped = stats.dropped();
  v1::ListRegionsResponse regions;
  s = v1::Regions::NewStub(channel)->ListRegions(
      Deadline(options.timeout).get(), v1::ListRegionsRequest(), &regions);
  if (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
    return;  // region tracking is off: nothing to show
  }
  if (!s.ok()) {
    service.error = std::string(RpcError("ListRegions", s).message());
    return;
  }
  report.regions_on = true;
  for (const v1::RegionState& r : regions.regions()) {
    (r.alive() ? report.regions_up : report.regions_down).push_back(r.name());
  }
}

void AskConsumer(StatusReport::Service& service, const StatusOptions& options,
                 StatusReport& report) {
  auto channel = Reach(service, v1::Consumer::service_full_name(), options);
  if (channel == nullptr) return;
  v1::ListQueuesResponse queues;
  grpc::Status s = v1::Consumer::NewStub(channel)->ListQueues(
      Deadline(options.timeout).get(), v1::ListQueuesRequest(), &queues);
  if (!s.ok()) {
    service.error = std::string(RpcError("ListQueues", s).message());
    return;
  }
  report.queue_count = queues.queues_size();
  for (const v1::QueueInfo& q : queues.queues()) {
    report.queues.push_back({q.name(), q.depth(), q.unacked(), q.subscribers()});
  }
  std::sort(report.queues.begin(), report.queues.end(),
            [](const StatusReport::Queue& a, const StatusReport::Queue& b) {
              if (a.depth != b.depth) return a.depth > b.depth;
              return a.name < b.name;
            });
  if (report.queues.size() > static_cast<size_t>(options.top)) {
    report.queues.resize(options.top);
  }
}

void AskBridge(StatusReport::Service& service, const StatusOptions& options,
               StatusReport& report) {
  auto channel = Reach(service, v1::Bridge::service_full_name(), options);
  if (channel == nullptr) return;
  v1::TransportInfo info;
  grpc::Status s = v1::Bridge::NewStub(channel)->GetTransportInfo(
      Deadline(options.timeout).get(), v1::GetTransportInfoRequest(), &info);
  if (!s.ok()) {
    service.error = std::string(RpcError("GetTransportInfo", s).message());
    return;
  }
  report.transport_driver = info.driver();
  report.transport_connected_to = info.connected_to();
}

std::string Percent(uint64_t part, uint64_t whole) {
  if (whole == 0) return "-";
  return absl::StrCat(part * 100 / whole, "%");
}

}  // namespace

bool StatusReport::healthy() const {
  for (const Service& s : services) {
    if (!s.address.empty() && (s.health != "SERVING" || !s.error.empty())) {
      return false;
    }
  }
  return true;
}

StatusReport CollectStatus(const StatusOptions& options) {
  StatusReport report;
  report.services = {{"broadcaster", options.broadcaster},
                     {"consumer", options.consumer},
                     {"bridge", options.bridge}};
  if (!options.broadcaster.empty()) {
    AskBroadcaster(report.services[0], options, report);
  }
  if (!options.consumer.empty()) {
    AskConsumer(report.services[1], options, report);
  }
  if (!options.bridge.empty()) AskBridge(report.services[2], options, report);
  return report;
}

void PrintStatus(const StatusReport& report, std::ostream& out) {
  for (const StatusReport::Service& s : report.services) {
    if (s.address.empty()) {
      out << s.name << ": not asked (--" << s.name << ")\n";
      continue;
    }
    out << s.name << " " << s.address << ": " << s.health;
    if (!s.error.empty() && s.error != s.health) out << " (" << s.error << ")";
    out << "\n";
  }
  if (report.have_broadcaster) {
    out << "buffer: " << report.buffered << " events ("
        << Percent(report.buffered, report.buffer_limit_events) << "), "
        << report.buffered_bytes << " bytes ("
        << Percent(report.buffered_bytes, report.buffer_limit_bytes)
        << "); bridge " << (report.bridge_connected ? "connected" : "DISCONNECTED")
        << "; accepted " << report.accepted << ", rejected " << report.rejected
        << ", dropped " << report.dropped << "\n";
  }
  if (report.regions_on) {
    out << "regions: " << report.regions_up.size() << " up";
    if (!report.regions_up.empty()) {
      out << " (" << absl::StrJoin(report.regions_up, ", ") << ")";
    }
    out << ", " << report.regions_down.size() << " down";
    if (!report.regions_down.empty()) {
      out << " (" << absl::StrJoin(report.regions_down, ", ") << ")";
    }
    out << "\n";
  }
  if (!report.transport_driver.empty()) {
    out << "transport: " << report.transport_driver;
    if (!report.transport_connected_to.empty()) {
      out << " via " << report.transport_connected_to;
    }
    out << "\n";
  }
  if (!report.services[1].address.empty() && report.services[1].error.empty()) {
    out << "queues: " << report.queue_count << " (deepest "
        << report.queues.size() << ")\n";
    for (const StatusReport::Queue& q : report.queues) {
      out << "  " << q.name << "  depth " << q.depth << "  unacked "
          << q.unacked << "  subscribers " << q.subscribers << "\n";
    }
  }
  out << (report.healthy() ? "status: healthy" : "status: UNHEALTHY") << "\n";
  out.flush();
}

absl::StatusOr<std::string> StatusJson(const StatusReport& report) {
  google::protobuf::Struct root;
  auto& f = *root.mutable_fields();
  auto number = [](double v) {
    google::protobuf::Value value;
    value.set_number_value(v);
    return value;
  };
  auto text = [](const std::string& v) {
    google::protobuf::Value value;
    value.set_string_value(v);
    return value;
  };
  f["healthy"].set_bool_value(report.healthy());
  auto& services = *f["services"].mutable_struct_value()->mutable_fields();
  for (const StatusReport::Service& s : report.services) {
    if (s.address.empty()) continue;
    auto& one = *services[s.name].mutable_struct_value()->mutable_fields();
    one["address"] = text(s.address);
    one["health"] = text(s.health);
    if (!s.error.empty()) one["error"] = text(s.error);
  }
  if (report.have_broadcaster) {
    auto& b = *f["buffer"].mutable_struct_value()->mutable_fields();
    b["events"] = number(report.buffered);
    b["bytes"] = number(report.buffered_bytes);
    b["limitEvents"] = number(report.buffer_limit_events);
    b["limitBytes"] = number(report.buffer_limit_bytes);
    f["bridgeConnected"].set_bool_value(report.bridge_connected);
    f["accepted"] = number(report.accepted);
    f["rejected"] = number(report.rejected);
    f["dropped"] = number(report.dropped);
  }
  if (report.regions_on) {
    auto& regions = *f["regions"].mutable_struct_value()->mutable_fields();
    for (const auto& [key, list] :
         {std::make_pair("up", &report.regions_up),
          std::make_pair("down", &report.regions_down)}) {
      auto& values = *regions[key].mutable_list_value();
      for (const std::string& r : *list) *values.add_values() = text(r);
    }
  }
  if (!report.transport_driver.empty()) {
    auto& t = *f["transport"].mutable_struct_value()->mutable_fields();
    t["driver"] = text(report.transport_driver);
    t["connectedTo"] = text(report.transport_connected_to);
  }
  if (!report.services[1].address.empty() && report.services[1].error.empty()) {
    f["queueCount"] = number(report.queue_count);
    auto& queues = *f["queues"].mutable_list_value();
    for (const StatusReport::Queue& q : report.queues) {
      auto& one = *queues.add_values()->mutable_struct_value()->mutable_fields();
      one["name"] = text(q.name);
      one["depth"] = number(q.depth);
      one["unacked"] = number(q.unacked);
      one["subscribers"] = number(q.subscribers);
    }
  }
  return ToJson(root, /*pretty=*/false, /*print_defaults=*/true);
}

}  // namespace switchboard::ctl
