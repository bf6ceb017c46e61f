#include "services/common/client_channel.h"

#include <grpcpp/support/client_interceptor.h>

#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace switchboard {
namespace {

// Adds the authorization header to every call of the channel. (Call
// credentials would do it only on TLS channels; tokens also serve
// plaintext loopback and unix-socket clients.)
class TokenInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit TokenInterceptor(std::shared_ptr<const std::string> header)
      : header_(std::move(header)) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::
                PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->insert({"authorization", *header_});
    }
    methods->Proceed();
  }

 private:
  const std::shared_ptr<const std::string> header_;
};

class TokenInterceptorFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit TokenInterceptorFactory(const std::string& token)
      : header_(std::make_shared<const std::string>("Bearer " + token)) {}

  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    return new TokenInterceptor(header_);
  }

 private:
  const std::shared_ptr<const std::string> header_;
};

}  // namespace

absl::StatusOr<std::string> ReadTokenFile(const std::string& path,
                                          absl::string_view field) {
  const std::string prefix = field.empty() ? "" : absl::StrCat(field, ": ");
  std::ifstream in(path);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "cannot read '", path, "'"));
  }
  std::stringstream text;
  text << in.rdbuf();
  std::string token(absl::StripAsciiWhitespace(text.str()));
  if (token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "'", path, "' is empty"));
  }
  return token;
}

absl::StatusOr<ClientCredentials> ParseBridgeCredentials(
    const ConfigNode& section) {
  ClientCredentials c;
  absl::StatusOr<ClientTlsSettings> tls = ClientTlsSettings::Parse(section, "tls");
  if (!tls.ok()) return tls.status();
  c.tls = *std::move(tls);
  std::string token_file;
  if (absl::Status s = section.Get("token_file", &token_file); !s.ok()) {
    return s;
  }
  if (!token_file.empty()) {
    absl::StatusOr<std::string> token = ReadTokenFile(token_file, "");
    if (!token.ok()) {
      return section.Error("token_file", token.status().message());
    }
    c.token = *std::move(token);
  }
  return c;
}

std::shared_ptr<grpc::Channel> CreateClientChannel(
    const std::string& address, const ClientCredentials& credentials,
    grpc::ChannelArguments args) {
  credentials.tls.ApplyTo(args);
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
      interceptors;
  if (!credentials.token.empty()) {
    interceptors.push_back(
        std::make_unique<TokenInterceptorFactory>(credentials.token));
  }
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      address, credentials.tls.Credentials(), args, std::move(interceptors));
}

}  // namespace switchboard
