#ifndef SWITCHBOARD_SERVICES_COMMON_STATUS_MACROS_H_
#define SWITCHBOARD_SERVICES_COMMON_STATUS_MACROS_H_

// Early returns on absl::Status and absl::StatusOr. absl only, so that
// config, drivers and tools use them without linking gRPC; the conversion
// to grpc::Status at the RPC edge is in grpc_status.h.

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Early return on a non-OK absl::Status.
#define SB_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::absl::Status sb_status_ = (expr);      \
    if (!sb_status_.ok()) return sb_status_; \
  } while (false)

#define SB_STATUS_CONCAT_INNER_(a, b) a##b
#define SB_STATUS_CONCAT_(a, b) SB_STATUS_CONCAT_INNER_(a, b)

// `lhs = value of expr`, or early return of its error status.
#define SB_ASSIGN_OR_RETURN(lhs, expr)                                      \
  SB_ASSIGN_OR_RETURN_IMPL_(SB_STATUS_CONCAT_(sb_statusor_, __LINE__), lhs, \
                            expr)
#define SB_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                              \
  if (!statusor.ok()) return statusor.status();        \
  lhs = std::move(statusor).value()

#endif  // SWITCHBOARD_SERVICES_COMMON_STATUS_MACROS_H_
