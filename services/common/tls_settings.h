#ifndef SWITCHBOARD_SERVICES_COMMON_TLS_SETTINGS_H_
#define SWITCHBOARD_SERVICES_COMMON_TLS_SETTINGS_H_

// TLS for gRPC links: the `tls` section of a service's config (its
// listeners) and the `tls` of a client's settings toward a server (the
// broadcaster's and the consumer's `bridge.tls`, switchboardctl's flags).
//
// Certificate and key files are watched: gRPC re-reads them every
// `refresh_interval`, so certificates rotated in place (cert-manager
// writes new files into a mounted secret) take effect for new connections
// without a restart, and open streams continue. Write a new key and
// certificate together (a directory swap or a symlink flip): a key that
// does not match its certificate is ignored until it does.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/common/config.h"

namespace switchboard {

// TLS of a service's listeners (TCP and unix alike):
//   tls:
//     cert_file: /etc/switchboard/tls/tls.crt   # with key_file: serve TLS
//     key_file: /etc/switchboard/tls/tls.key
//     client_ca_file: /etc/switchboard/tls/ca.crt  # verifies client certs
//     client_certs: require      # none | request | require; default:
//                                # require with client_ca_file, else none
//     refresh_interval: 60s      # how often the files are re-read (>= 1s)
// Without cert_file the listeners are plaintext. Not reloadable: a reload
// that changes it is refused (the files themselves rotate in place).
struct ServerTlsSettings {
  enum class ClientCerts {
    // Clients are not asked for a certificate.
    kNone,
    // Asked for one; a client without one is let in, a client whose
    // certificate does not verify against client_ca_file is refused.
    kRequest,
    // A certificate that verifies against client_ca_file is required.
    kRequire,
  };

  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;
  ClientCerts client_certs = ClientCerts::kNone;
  absl::Duration refresh_interval = absl::Seconds(60);

  bool enabled() const { return !cert_file.empty(); }

  // Reads `tls` of a service's config root. Checks that the files exist
  // and are readable, and that each certificate and key file holds PEM of
  // its kind; errors name the field ("tls.key_file: ..."). Never logs or
  // returns a file's content.
  static absl::StatusOr<ServerTlsSettings> Parse(const ConfigNode& root);

  // Plaintext credentials when not enabled.
  std::shared_ptr<grpc::ServerCredentials> Credentials() const;

  // "tls (client certificates required)" or "plaintext", for logs.
  std::string ToString() const;

  bool operator==(const ServerTlsSettings& other) const;
  bool operator!=(const ServerTlsSettings& other) const {
    return !(*this == other);
  }
};

// TLS toward a server:
//   tls:
//     ca_file: /etc/switchboard/tls/ca.crt  # set: TLS, server verified by it
//     cert_file: /etc/switchboard/tls/client.crt  # presented when set
//     key_file: /etc/switchboard/tls/client.key
//     server_name: bridge.switchboard  # the name the server's certificate
//                                      # must carry; default: the host dialed
//     refresh_interval: 60s
struct ClientTlsSettings {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string server_name;
  absl::Duration refresh_interval = absl::Seconds(60);

  bool enabled() const { return !ca_file.empty(); }

  // Reads `key` (e.g. "tls") of `parent` (e.g. the `bridge` section).
  // Checks as ServerTlsSettings::Parse does; errors name the field
  // ("bridge.tls.ca_file: ...").
  static absl::StatusOr<ClientTlsSettings> Parse(const ConfigNode& parent,
                                                 absl::string_view key);
  // The same checks, for settings given as flags (errors name `--flag`s
  // through `field_prefix`, e.g. "--tls_").
  absl::Status Validate(absl::string_view field_prefix) const;

  // Plaintext credentials when not enabled.
  std::shared_ptr<grpc::ChannelCredentials> Credentials() const;
  // Adds what the credentials need of the channel (the server name).
  void ApplyTo(grpc::ChannelArguments& args) const;

  bool operator==(const ClientTlsSettings& other) const;
  bool operator!=(const ClientTlsSettings& other) const {
    return !(*this == other);
  }
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_COMMON_TLS_SETTINGS_H_
