#include "services/common/tls_settings.h"

#include <cstdio>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kKeyText[] = "secret-key-material";

class TlsSettingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir();
    cert_ = Write("c.crt",
                  "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n");
    key_ = Write("c.key", std::string("-----BEGIN PRIVATE KEY-----\n") +
                              kKeyText + "\n-----END PRIVATE KEY-----\n");
    not_pem_ = Write("notpem", kKeyText);
  }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  absl::StatusOr<ServerTlsSettings> Server(const std::string& yaml) {
    auto node = ConfigNode::Parse(yaml, "x.yaml");
    EXPECT_TRUE(node.ok()) << node.status();
    return ServerTlsSettings::Parse(*node);
  }

  absl::StatusOr<ClientTlsSettings> Client(const std::string& yaml) {
    auto node = ConfigNode::Parse(yaml, "x.yaml");
    EXPECT_TRUE(node.ok()) << node.status();
    auto bridge = node->Child("bridge");
    EXPECT_TRUE(bridge.ok()) << bridge.status();
    return ClientTlsSettings::Parse(*bridge, "tls");
  }

  std::string dir_, cert_, key_, not_pem_;
};

TEST_F(TlsSettingsTest, AbsentMeansPlaintext) {
  auto server = Server("listen: 127.0.0.1:0\n");
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_FALSE(server->enabled());
  EXPECT_EQ(server->ToString(), "plaintext");
  auto client = Client("bridge:\n  address: x:1\n");
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_FALSE(client->enabled());
}

TEST_F(TlsSettingsTest, ClientCertsDefaultToRequiredWithAClientCa) {
  auto s = Server("tls:\n  cert_file: " + cert_ + "\n  key_file: " + key_ +
                  "\n  client_ca_file: " + cert_ + "\n");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->client_certs, ServerTlsSettings::ClientCerts::kRequire);
  auto plain = Server("tls:\n  cert_file: " + cert_ + "\n  key_file: " +
                      key_ + "\n");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->client_certs, ServerTlsSettings::ClientCerts::kNone);
}

TEST_F(TlsSettingsTest, ErrorsNameTheFieldAndNeverQuoteAFile) {
  const std::string id =
      "tls:\n  cert_file: " + cert_ + "\n  key_file: " + key_ + "\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"tls:\n  cert_file: " + cert_ + "\n", "tls.key_file"},
      {"tls:\n  cert_file: /nonexistent.crt\n  key_file: " + key_ + "\n",
       "tls.cert_file: cannot read '/nonexistent.crt'"},
      {"tls:\n  cert_file: " + key_ + "\n  key_file: " + key_ + "\n",
       "tls.cert_file: '" + key_ + "' holds no PEM certificate"},
      {"tls:\n  cert_file: " + cert_ + "\n  key_file: " + not_pem_ + "\n",
       "tls.key_file: '" + not_pem_ + "' holds no PEM private key"},
      {id + "  client_certs: always\n", "tls.client_certs: expected none"},
      {id + "  client_certs: require\n", "tls.client_ca_file: must be set"},
      {id + "  refresh_interval: 0s\n", "tls.refresh_interval: must be 1s"},
      {id + "  ciphers: all\n", "ciphers"},
      {"tls:\n  client_ca_file: " + cert_ + "\n", "tls.cert_file"},
  };
  for (const auto& [yaml, expected] : cases) {
    auto s = Server(yaml);
    ASSERT_FALSE(s.ok()) << yaml;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(s.status().message(),
                AllOf(HasSubstr(expected), Not(HasSubstr(kKeyText))))
        << yaml;
  }
  auto client = Client("bridge:\n  tls:\n    cert_file: " + cert_ +
                       "\n    key_file: " + key_ + "\n");
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(client.status().message(), HasSubstr("bridge.tls.ca_file"));
  ClientTlsSettings flags;
  flags.ca_file = not_pem_;
  EXPECT_THAT(flags.Validate("--tls_").message(),
              HasSubstr("--tls_ca_file: '" + not_pem_ + "' holds no PEM"));
}

}  // namespace
}  // namespace switchboard
