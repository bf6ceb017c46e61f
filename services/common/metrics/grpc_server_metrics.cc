#include "services/common/metrics/grpc_server_metrics.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"

namespace switchboard {
namespace {

using RpcType = grpc::experimental::ServerRpcInfo::Type;
using grpc::experimental::InterceptionHookPoints;

// The methods of our services are few; this bounds what a client could add
// by calling unknown ones.
constexpr uint32_t kMaxMethods = 200;

const char* TypeName(RpcType type) {
  switch (type) {
    case RpcType::UNARY:
      return "unary";
    case RpcType::CLIENT_STREAMING:
      return "client_stream";
    case RpcType::SERVER_STREAMING:
      return "server_stream";
    case RpcType::BIDI_STREAMING:
      return "bidi_stream";
  }
  return "unknown";
}

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::OK: return "OK";
    case grpc::CANCELLED: return "CANCELLED";
    case grpc::UNKNOWN: return "UNKNOWN";
    case grpc::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::NOT_FOUND: return "NOT_FOUND";
    case grpc::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::ABORTED: return "ABORTED";
    case grpc::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::INTERNAL: return "INTERNAL";
    case grpc::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::DATA_LOSS: return "DATA_LOSS";
    case grpc::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

// One per call: started when the call is, handled at the status it sends
// (or CANCELLED when it ends without one).
class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(GrpcServerMetrics* metrics,
                     grpc::experimental::ServerRpcInfo* info)
      : metrics_(metrics),
        method_(info->method()),
        type_(info->type()),
        start_(absl::Now()) {
    metrics_->Started(method_, type_);
  }
  ~MetricsInterceptor() override {
    if (!handled_) {
      metrics_->Handled(method_, type_, grpc::CANCELLED, absl::Now() - start_);
    }
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (!handled_ &&
        methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      handled_ = true;
      metrics_->Handled(method_, type_, methods->GetSendStatus().error_code(),
                        absl::Now() - start_);
    }
    methods->Proceed();
  }

 private:
  GrpcServerMetrics* const metrics_;
  const char* const method_;
  const RpcType type_;
  const absl::Time start_;
  bool handled_ = false;
};

class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(GrpcServerMetrics* metrics)
      : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(metrics_, info);
  }

 private:
  GrpcServerMetrics* const metrics_;
};

}  // namespace

GrpcServerMetrics::GrpcServerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      started_(prometheus::BuildCounter()
                   .Name("switchboard_grpc_server_started_total")
                   .Help("RPCs started on the server.")
                   .Register(*registry_)),
      handled_(prometheus::BuildCounter()
                   .Name("switchboard_grpc_server_handled_total")
                   .Help("RPCs completed on the server, by status code.")
                   .Register(*registry_)),
      seconds_(prometheus::BuildHistogram()
                   .Name("switchboard_grpc_server_handling_seconds")
                   .Help("Time from an RPC's start to its status, in "
                         "seconds (a stream's whole life).")
                   .Register(*registry_)),
      methods_(kMaxMethods) {}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
GrpcServerMetrics::NewInterceptorFactory() {
  return std::make_unique<MetricsInterceptorFactory>(this);
}

void GrpcServerMetrics::SetServices(const std::vector<std::string>& services) {
  absl::MutexLock lock(&mu_);
  services_set_ = true;
  for (const std::string& name : services) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            name);
    if (service == nullptr) {
      known_prefixes_.push_back(absl::StrCat("/", name, "/"));
      continue;
    }
    for (int i = 0; i < service->method_count(); ++i) {
      known_methods_.insert(
          absl::StrCat("/", name, "/", service->method(i)->name()));
    }
  }
}

GrpcServerMetrics::MethodLabels GrpcServerMetrics::LabelsOf(
    const char* full_method) {
  const std::string path = full_method == nullptr ? "" : full_method;
  std::string capped;
  {
    absl::MutexLock lock(&mu_);
    bool known = !services_set_ || known_methods_.contains(path);
    for (size_t i = 0; !known && i < known_prefixes_.size(); ++i) {
      known = absl::StartsWith(path, known_prefixes_[i]);
    }
    if (!known) return {"unknown", "unknown"};
    capped = methods_.LabelFor(path);
  }
  const absl::string_view m(capped);
  const size_t slash = m.rfind('/');
  if (m.empty() || m[0] != '/' || slash == 0 || slash == absl::string_view::npos) {
    return {kOtherLabel, kOtherLabel};
  }
  return {std::string(m.substr(1, slash - 1)), std::string(m.substr(slash + 1))};
}

void GrpcServerMetrics::Started(const char* method, RpcType type) {
  MethodLabels labels = LabelsOf(method);
  started_
      .Add({{"grpc_service", labels.service},
            {"grpc_method", labels.method},
            {"grpc_type", TypeName(type)}})
      .Increment();
}

void GrpcServerMetrics::Handled(const char* method, RpcType type,
                                grpc::StatusCode code, absl::Duration elapsed) {
  MethodLabels labels = LabelsOf(method);
  handled_
      .Add({{"grpc_service", labels.service},
            {"grpc_method", labels.method},
            {"grpc_type", TypeName(type)},
            {"grpc_code", CodeName(code)}})
      .Increment();
  seconds_
      .Add({{"grpc_service", labels.service},
            {"grpc_method", labels.method},
            {"grpc_type", TypeName(type)}},
           LatencyBuckets())
      .Observe(absl::ToDoubleSeconds(elapsed));
}

}  // namespace switchboard
