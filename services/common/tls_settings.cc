#include "services/common/tls_settings.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <fstream>
#include <functional>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/common/status_macros.h"

namespace switchboard {
namespace {

// Builds the error of a field, named the way its settings are written.
using FieldError =
    std::function<absl::Status(absl::string_view field, absl::string_view)>;

constexpr absl::Duration kMinRefresh = absl::Seconds(1);
constexpr absl::Duration kMaxRefresh = absl::Hours(24);

enum class PemKind { kCertificate, kPrivateKey };

// Checks that `path` is a readable file holding PEM of `kind`. Says what
// is wrong without quoting the file.
absl::Status CheckPemFile(const std::string& path, PemKind kind,
                          absl::string_view field, const FieldError& error) {
  std::ifstream in(path);
  if (!in) {
    return error(field, absl::StrCat("cannot read '", path,
                                     "' (missing, or not readable by this "
                                     "process)"));
  }
  std::stringstream text;
  text << in.rdbuf();
  const std::string content = text.str();
  if (kind == PemKind::kCertificate) {
    if (!absl::StrContains(content, "-----BEGIN CERTIFICATE-----")) {
      return error(field, absl::StrCat("'", path,
                                        "' holds no PEM certificate "
                                        "(-----BEGIN CERTIFICATE-----)"));
    }
  } else if (!absl::StrContains(content, "PRIVATE KEY-----")) {
    return error(field, absl::StrCat("'", path,
                                      "' holds no PEM private key "
                                      "(-----BEGIN ... PRIVATE KEY-----)"));
  }
  return absl::OkStatus();
}

absl::Status CheckRefresh(absl::Duration interval, const FieldError& error) {
  if (interval < kMinRefresh || interval > kMaxRefresh) {
    return error("refresh_interval",
                 absl::StrCat("must be 1s to 24h, got ",
                              absl::FormatDuration(interval)));
  }
  return absl::OkStatus();
}

// cert_file and key_file: both or neither, each holding its kind.
absl::Status CheckIdentity(const std::string& cert_file,
                           const std::string& key_file,
                           const FieldError& error) {
  if (cert_file.empty() != key_file.empty()) {
    return error(cert_file.empty() ? "cert_file" : "key_file",
                 "cert_file and key_file go together: set both or neither");
  }
  if (cert_file.empty()) return absl::OkStatus();
  SB_RETURN_IF_ERROR(
      CheckPemFile(cert_file, PemKind::kCertificate, "cert_file", error));
  return CheckPemFile(key_file, PemKind::kPrivateKey, "key_file", error);
}

// Errors of fields of `node` ("tls.key_file: ...").
FieldError ErrorsOf(const ConfigNode& node) {
  return [&node](absl::string_view field, absl::string_view message) {
    return node.Error(field, message);
  };
}

// What both kinds of settings check once read: the certificate and key
// pair, and the refresh interval. Errors name fields of `node`.
absl::Status CheckIdentityAndRefresh(const ConfigNode& node,
                                     const std::string& cert_file,
                                     const std::string& key_file,
                                     absl::Duration refresh_interval) {
  SB_RETURN_IF_ERROR(node.CheckAllKeysKnown());
  const FieldError error = ErrorsOf(node);
  SB_RETURN_IF_ERROR(CheckIdentity(cert_file, key_file, error));
  return CheckRefresh(refresh_interval, error);
}

unsigned int RefreshSeconds(absl::Duration interval) {
  return static_cast<unsigned int>(absl::ToInt64Seconds(interval));
}

}  // namespace

absl::StatusOr<ServerTlsSettings> ServerTlsSettings::Parse(
    const ConfigNode& root) {
  ServerTlsSettings s;
  SB_ASSIGN_OR_RETURN(ConfigNode node, root.Child("tls"));
  std::string client_certs;
  SB_RETURN_IF_ERROR(node.Get("cert_file", &s.cert_file));
  SB_RETURN_IF_ERROR(node.Get("key_file", &s.key_file));
  SB_RETURN_IF_ERROR(node.Get("client_ca_file", &s.client_ca_file));
  SB_RETURN_IF_ERROR(node.Get("client_certs", &client_certs));
  SB_RETURN_IF_ERROR(node.Get("refresh_interval", &s.refresh_interval));
  SB_RETURN_IF_ERROR(CheckIdentityAndRefresh(node, s.cert_file, s.key_file,
                                             s.refresh_interval));
  const FieldError error = ErrorsOf(node);
  const std::string mode = absl::AsciiStrToLower(client_certs);
  if (mode.empty()) {
    s.client_certs = s.client_ca_file.empty() ? ClientCerts::kNone
                                              : ClientCerts::kRequire;
  } else if (mode == "none") {
    s.client_certs = ClientCerts::kNone;
  } else if (mode == "request") {
    s.client_certs = ClientCerts::kRequest;
  } else if (mode == "require") {
    s.client_certs = ClientCerts::kRequire;
  } else {
    return error("client_certs",
                 absl::StrCat("expected none, request or require, got '",
                              client_certs, "'"));
  }
  if (!s.enabled()) {
    if (!s.client_ca_file.empty() || !mode.empty()) {
      return error("cert_file",
                   "client certificates need TLS: set cert_file and "
                   "key_file too");
    }
    return s;
  }
  if (s.client_certs != ClientCerts::kNone) {
    if (s.client_ca_file.empty()) {
      return error("client_ca_file",
                   absl::StrCat("must be set with client_certs: ", mode,
                                " (the CA that signs client certificates)"));
    }
    SB_RETURN_IF_ERROR(CheckPemFile(s.client_ca_file, PemKind::kCertificate,
                                    "client_ca_file", error));
  }
  return s;
}

std::shared_ptr<grpc::ServerCredentials> ServerTlsSettings::Credentials()
    const {
  if (!enabled()) return grpc::InsecureServerCredentials();
  auto provider =
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          key_file, cert_file,
          client_certs == ClientCerts::kNone ? "" : client_ca_file,
          RefreshSeconds(refresh_interval));
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  switch (client_certs) {
    case ClientCerts::kNone:
      options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
      break;
    case ClientCerts::kRequest:
      options.watch_root_certs();
      options.set_cert_request_type(
          GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
      break;
    case ClientCerts::kRequire:
      options.watch_root_certs();
      options.set_cert_request_type(
          GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
      break;
  }
  return grpc::experimental::TlsServerCredentials(options);
}

std::string ServerTlsSettings::ToString() const {
  if (!enabled()) return "plaintext";
  switch (client_certs) {
    case ClientCerts::kNone:
      return "tls";
    case ClientCerts::kRequest:
      return "tls (client certificates verified when sent)";
    case ClientCerts::kRequire:
      return "tls (client certificates required)";
  }
  return "tls";
}

bool ServerTlsSettings::operator==(const ServerTlsSettings& o) const {
  return cert_file == o.cert_file && key_file == o.key_file &&
         client_ca_file == o.client_ca_file && client_certs == o.client_certs &&
         refresh_interval == o.refresh_interval;
}

absl::StatusOr<ClientTlsSettings> ClientTlsSettings::Parse(
    const ConfigNode& parent, absl::string_view key) {
  ClientTlsSettings s;
  SB_ASSIGN_OR_RETURN(ConfigNode node, parent.Child(key));
  SB_RETURN_IF_ERROR(node.Get("ca_file", &s.ca_file));
  SB_RETURN_IF_ERROR(node.Get("cert_file", &s.cert_file));
  SB_RETURN_IF_ERROR(node.Get("key_file", &s.key_file));
  SB_RETURN_IF_ERROR(node.Get("server_name", &s.server_name));
  SB_RETURN_IF_ERROR(node.Get("refresh_interval", &s.refresh_interval));
  SB_RETURN_IF_ERROR(CheckIdentityAndRefresh(node, s.cert_file, s.key_file,
                                             s.refresh_interval));
  const FieldError error = ErrorsOf(node);
  if (!s.enabled()) {
    if (!s.cert_file.empty() || !s.server_name.empty()) {
      return error("ca_file",
                   "must be set for TLS (the CA that signs the server's "
                   "certificate)");
    }
    return s;
  }
  SB_RETURN_IF_ERROR(
      CheckPemFile(s.ca_file, PemKind::kCertificate, "ca_file", error));
  return s;
}

absl::Status ClientTlsSettings::Validate(absl::string_view field_prefix) const {
  const FieldError error = [&](absl::string_view field,
                               absl::string_view message) {
    return absl::InvalidArgumentError(
        absl::StrCat(field_prefix, field, ": ", message));
  };
  SB_RETURN_IF_ERROR(CheckIdentity(cert_file, key_file, error));
  if (!enabled()) {
    if (!cert_file.empty() || !server_name.empty()) {
      return error("ca_file", "must be set for TLS");
    }
    return absl::OkStatus();
  }
  return CheckPemFile(ca_file, PemKind::kCertificate, "ca_file", error);
}

std::shared_ptr<grpc::ChannelCredentials> ClientTlsSettings::Credentials()
    const {
  if (!enabled()) return grpc::InsecureChannelCredentials();
  const unsigned int refresh = RefreshSeconds(refresh_interval);
  auto provider =
      cert_file.empty()
          ? std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
                ca_file, refresh)
          : std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
                key_file, cert_file, ca_file, refresh);
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(provider);
  options.watch_root_certs();
  if (!cert_file.empty()) options.watch_identity_key_cert_pairs();
  return grpc::experimental::TlsCredentials(options);
}

void ClientTlsSettings::ApplyTo(grpc::ChannelArguments& args) const {
  if (enabled() && !server_name.empty()) {
    args.SetSslTargetNameOverride(server_name);
  }
}

bool ClientTlsSettings::operator==(const ClientTlsSettings& o) const {
  return ca_file == o.ca_file && cert_file == o.cert_file &&
         key_file == o.key_file && server_name == o.server_name &&
         refresh_interval == o.refresh_interval;
}

}  // namespace switchboard
