#ifndef SWITCHBOARD_SERVICES_COMMON_CLIENT_CHANNEL_H_
#define SWITCHBOARD_SERVICES_COMMON_CLIENT_CHANNEL_H_

// How a client of a switchboard service proves who it is: TLS (and a
// client certificate) and/or a bearer token sent on every call. Shared by
// the broadcaster and consumer (toward the bridge), switchboardctl and
// tools/speaker.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/common/config.h"
#include "services/common/tls_settings.h"

namespace switchboard {

struct ClientCredentials {
  ClientTlsSettings tls;
  // Sent as `authorization: Bearer <token>` on every call; empty: none.
  // Never logged.
  std::string token;
};

// The token in `path` (surrounding whitespace removed). Errors name
// `field` (when not empty) and the path, never the content.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path,
                                          absl::string_view field);

// The `tls` and `token_file` of a client's section of its config (e.g.
// `bridge`). The token is read now: a new one takes a reload. Errors name
// the field.
absl::StatusOr<ClientCredentials> ParseBridgeCredentials(
    const ConfigNode& section);

// A channel to `address` with `credentials`, `args` added to.
std::shared_ptr<grpc::Channel> CreateClientChannel(
    const std::string& address, const ClientCredentials& credentials,
    grpc::ChannelArguments args = grpc::ChannelArguments());

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_COMMON_CLIENT_CHANNEL_H_
