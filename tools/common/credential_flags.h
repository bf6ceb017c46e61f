#ifndef SWITCHBOARD_TOOLS_COMMON_CREDENTIAL_FLAGS_H_
#define SWITCHBOARD_TOOLS_COMMON_CREDENTIAL_FLAGS_H_

// The command-line tools' credential flags: --tls_ca_file, --tls_cert_file,
// --tls_key_file, --tls_server_name and --token_file (else the
// SWITCHBOARD_TOKEN environment variable).

#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "services/common/client_channel.h"

namespace switchboard::tools {

// The flags' names, for tools that check which flags a subcommand takes.
const std::set<std::string>& CredentialFlagNames();

// The credentials the flags (and SWITCHBOARD_TOKEN) give. Errors name the
// flag and the file, never the token.
absl::StatusOr<ClientCredentials> CredentialsFromFlags();

}  // namespace switchboard::tools

#endif  // SWITCHBOARD_TOOLS_COMMON_CREDENTIAL_FLAGS_H_
