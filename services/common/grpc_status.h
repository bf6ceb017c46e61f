#ifndef SWITCHBOARD_SERVICES_COMMON_GRPC_STATUS_H_
#define SWITCHBOARD_SERVICES_COMMON_GRPC_STATUS_H_

// The RPC edge: everything inside the services is absl::Status; RPC
// handlers and clients convert here, and only here.

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace switchboard {

// absl and gRPC share code numbers, so these keep the code and the message.
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_COMMON_GRPC_STATUS_H_
