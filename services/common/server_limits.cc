#include "services/common/server_limits.h"

#include "absl/strings/str_cat.h"
#include "services/common/status_macros.h"

namespace switchboard {
namespace {

// Internal streams carry batches; what one may hold is bounded by the
// services' own batch settings, not by this.
constexpr int kInternalMessageBytes = 64 << 20;
// gRPC takes an int; above 1 GiB a single message is a mistake anyway.
constexpr uint32_t kMaxMessageBytesLimit = 1 << 30;
constexpr uint32_t kMinMessageBytes = 4096;

int Millis(absl::Duration d) {
  return static_cast<int>(absl::ToInt64Milliseconds(d));
}

}  // namespace

absl::StatusOr<ServerLimits> ServerLimits::Parse(const ConfigNode& root,
                                                 const ServerLimits& defaults) {
  ServerLimits limits = defaults;
  SB_ASSIGN_OR_RETURN(ConfigNode node, root.Child("limits"));
  SB_RETURN_IF_ERROR(node.Get("max_receive_message_bytes",
                              &limits.max_receive_message_bytes));
  SB_RETURN_IF_ERROR(
      node.Get("max_concurrent_streams", &limits.max_concurrent_streams));
  SB_RETURN_IF_ERROR(node.Get("keepalive_time", &limits.keepalive_time));
  SB_RETURN_IF_ERROR(node.Get("keepalive_timeout", &limits.keepalive_timeout));
  SB_RETURN_IF_ERROR(node.CheckAllKeysKnown());
  if (limits.max_receive_message_bytes < kMinMessageBytes ||
      limits.max_receive_message_bytes > kMaxMessageBytesLimit) {
    return node.Error("max_receive_message_bytes",
                      absl::StrCat("must be ", kMinMessageBytes, " to ",
                                   kMaxMessageBytesLimit, ", got ",
                                   limits.max_receive_message_bytes));
  }
  if (limits.max_concurrent_streams == 0 ||
      limits.max_concurrent_streams > (1u << 31) - 1) {
    return node.Error("max_concurrent_streams", "must be 1 to 2147483647");
  }
  const absl::Duration kMaxKeepalive = absl::Hours(24);
  if (limits.keepalive_time < kMinClientPingInterval ||
      limits.keepalive_time > kMaxKeepalive) {
    return node.Error(
        "keepalive_time",
        absl::StrCat("must be ", absl::FormatDuration(kMinClientPingInterval),
                     " to 24h, got ",
                     absl::FormatDuration(limits.keepalive_time)));
  }
  if (limits.keepalive_timeout < absl::Seconds(1) ||
      limits.keepalive_timeout > kMaxKeepalive) {
    return node.Error("keepalive_timeout",
                      absl::StrCat("must be 1s to 24h, got ",
                                   absl::FormatDuration(
                                       limits.keepalive_timeout)));
  }
  return limits;
}

void ServerLimits::ApplyTo(grpc::ServerBuilder& builder) const {
  builder.SetMaxReceiveMessageSize(static_cast<int>(max_receive_message_bytes));
  builder.SetMaxSendMessageSize(kInternalMessageBytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             static_cast<int>(max_concurrent_streams));
  // Ping idle clients, with or without calls, and drop those that do not
  // answer.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, Millis(keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             Millis(keepalive_timeout));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_SENT_PING_INTERVAL_WITHOUT_DATA_MS,
                             Millis(keepalive_time));
  // Accept clients' keepalive pings (ours and apps'), with or without
  // calls, as often as every kMinClientPingInterval; faster ones count as
  // abuse and end the connection (GOAWAY too_many_pings).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             Millis(kMinClientPingInterval));
}

grpc::ChannelArguments ServerLimits::InternalChannelArguments() const {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(kInternalMessageBytes);
  args.SetMaxReceiveMessageSize(kInternalMessageBytes);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, Millis(keepalive_time));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, Millis(keepalive_timeout));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  args.SetInt(GRPC_ARG_HTTP2_MIN_SENT_PING_INTERVAL_WITHOUT_DATA_MS,
              Millis(keepalive_time));
  return args;
}

bool ServerLimits::operator==(const ServerLimits& other) const {
  return max_receive_message_bytes == other.max_receive_message_bytes &&
         max_concurrent_streams == other.max_concurrent_streams &&
         keepalive_time == other.keepalive_time &&
         keepalive_timeout == other.keepalive_timeout;
}

}  // namespace switchboard
