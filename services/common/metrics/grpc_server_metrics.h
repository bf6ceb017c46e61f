#ifndef SWITCHBOARD_SERVICES_COMMON_METRICS_GRPC_SERVER_METRICS_H_
#define SWITCHBOARD_SERVICES_COMMON_METRICS_GRPC_SERVER_METRICS_H_

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "services/common/metrics/metrics.h"

namespace switchboard {

// Every RPC a server handles, counted through a server interceptor, with
// the labels of the usual gRPC metrics (grpc_service, grpc_method,
// grpc_type, grpc_code):
//   switchboard_grpc_server_started_total
//   switchboard_grpc_server_handled_total       (by code)
//   switchboard_grpc_server_handling_seconds    (histogram; a stream's is
//                                                its lifetime)
// A call the client cancels before a status is sent counts as CANCELLED.
// Thread-safe. Outlives the server it is installed in.
class GrpcServerMetrics {
 public:
  GrpcServerMetrics();

  // For MetricsServer::Register.
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  // One per server (grpc::ServerBuilder::experimental()
  // .SetInterceptorCreators); holds this object by pointer.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  NewInterceptorFactory();

  // The server's services (full names): their methods get their own
  // labels; any other method path a client calls is counted as
  // grpc_service="unknown", grpc_method="unknown". Until this is called,
  // the first 200 paths seen get their own labels.
  void SetServices(const std::vector<std::string>& services);

  // What the interceptor records.
  void Started(const char* method, grpc::experimental::ServerRpcInfo::Type type);
  void Handled(const char* method, grpc::experimental::ServerRpcInfo::Type type,
               grpc::StatusCode code, absl::Duration elapsed);

 private:
  struct MethodLabels {
    std::string service;
    std::string method;
  };
  // "/pkg.Service/Method" split; unknown shapes and methods past the cap
  // become "other".
  MethodLabels LabelsOf(const char* full_method);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& started_;
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Histogram>& seconds_;
  absl::Mutex mu_;
  CounterLabelCap methods_ ABSL_GUARDED_BY(mu_);
  // "/pkg.Service/Method" of the services' methods (from their
  // descriptors), and services without a descriptor here ("/pkg.Service/").
  absl::flat_hash_set<std::string> known_methods_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> known_prefixes_ ABSL_GUARDED_BY(mu_);
  bool services_set_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_COMMON_METRICS_GRPC_SERVER_METRICS_H_
