#include "tools/common/credential_flags.h"

#include <cstdlib>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"

ABSL_FLAG(std::string, tls_ca_file, "",
          "TLS: the CA (PEM) that signs the service's certificate; set, the "
          "connection is TLS.");
ABSL_FLAG(std::string, tls_cert_file, "",
          "TLS: this client's certificate (PEM), for services that require "
          "one.");
ABSL_FLAG(std::string, tls_key_file, "", "TLS: the key of --tls_cert_file.");
ABSL_FLAG(std::string, tls_server_name, "",
          "TLS: the name the service's certificate must carry (default: the "
          "host dialed).");
ABSL_FLAG(std::string, token_file, "",
          "A file holding this client's bearer token (default: the "
          "SWITCHBOARD_TOKEN environment variable, if set).");

namespace switchboard::tools {

const std::set<std::string>& CredentialFlagNames() {
  static const auto* names = new std::set<std::string>{
      "tls_ca_file", "tls_cert_file", "tls_key_file", "tls_server_name",
      "token_file"};
  return *names;
}

absl::StatusOr<ClientCredentials> CredentialsFromFlags() {
  ClientCredentials c;
  c.tls.ca_file = absl::GetFlag(FLAGS_tls_ca_file);
  c.tls.cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  c.tls.key_file = absl::GetFlag(FLAGS_tls_key_file);
  c.tls.server_name = absl::GetFlag(FLAGS_tls_server_name);
  if (absl::Status s = c.tls.Validate("--tls_"); !s.ok()) return s;
  if (const std::string path = absl::GetFlag(FLAGS_token_file);
      !path.empty()) {
    absl::StatusOr<std::string> token = ReadTokenFile(path, "--token_file");
    if (!token.ok()) return token.status();
    c.token = *std::move(token);
  } else if (const char* env = std::getenv("SWITCHBOARD_TOKEN");
             env != nullptr && *env != '\0') {
    c.token = std::string(absl::StripAsciiWhitespace(env));
  }
  return c;
}

}  // namespace switchboard::tools
