// TLS on the services' links, through the three real binaries: the bridge
// serves TLS and requires a client certificate from its CA; the broadcaster
// and the consumer present theirs (`bridge.tls`), and events flow. Clients
// without TLS, without a certificate or with one from another CA are
// refused.
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/v1/bridge.grpc.pb.h"
#include "tests/testing/cluster.h"
#include "tests/testing/process.h"
#include "tests/testing/test_pki.h"

namespace switchboard::testing {
namespace {

using ::testing::HasSubstr;

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pki = MakeTestPki(NewTempDir("pki"), "switchboard");
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = *pki;
    Cluster::Options options;
    options.bridge_yaml += absl::StrCat(
        "tls:\n  cert_file: ", pki_.server_cert, "\n  key_file: ",
        pki_.server_key, "\n  client_ca_file: ", pki_.ca_cert, "\n");
    // Appended under `bridge:`, the last section of both.
    const std::string bridge_tls =
        absl::StrCat("  tls:\n    ca_file: ", pki_.ca_cert,
                     "\n    cert_file: ", pki_.client_cert,
                     "\n    key_file: ", pki_.client_key,
                     "\n    server_name: localhost\n");
    options.broadcaster_yaml += bridge_tls;
    options.consumer_yaml += bridge_tls;
    auto cluster = Cluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
  }

  // GetTransportInfo on the bridge with these credentials.
  grpc::Status AskBridge(std::shared_ptr<grpc::ChannelCredentials> creds) {
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    auto stub = switchboard::v1::Bridge::NewStub(grpc::CreateCustomChannel(
        cluster_->bridge_address(), std::move(creds), args));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    switchboard::v1::TransportInfo info;
    return stub->GetTransportInfo(&context, {}, &info);
  }

  // TLS credentials trusting the test CA, presenting `cert` when set.
  std::shared_ptr<grpc::ChannelCredentials> Tls(const std::string& cert = "",
                                                const std::string& key = "") {
    using grpc::experimental::FileWatcherCertificateProvider;
    auto provider =
        cert.empty()
            ? std::make_shared<FileWatcherCertificateProvider>(pki_.ca_cert, 1)
            : std::make_shared<FileWatcherCertificateProvider>(
                  key, cert, pki_.ca_cert, 1);
    grpc::experimental::TlsChannelCredentialsOptions options;
    options.set_certificate_provider(provider);
    options.watch_root_certs();
    if (!cert.empty()) options.watch_identity_key_cert_pairs();
    return grpc::experimental::TlsCredentials(options);
  }

  TestPki pki_;
  std::unique_ptr<Cluster> cluster_;
};

TEST_F(TlsTest, EventsFlowOverMutualTlsToTheBridge) {
  auto answers = Publish(cluster_->broadcaster_address(),
                         MakeEvents("kytos/topology", "t", 3));
  ASSERT_TRUE(answers.ok()) << answers.status();
  auto app = Subscriber::Open(cluster_->consumer_address(),
                              {"app.kytos.topology"}, 10, /*auto_ack=*/true);
  ASSERT_TRUE(app.ok()) << app.status();
  EXPECT_EQ((*app)->WaitFor(3).size(), 3u) << cluster_->Log("consumer");
  EXPECT_THAT(cluster_->Log("bridge"),
              HasSubstr("(client certificates required)"));
}

TEST_F(TlsTest, TheBridgeRefusesClientsWithoutAValidCertificate) {
  EXPECT_TRUE(AskBridge(Tls(pki_.client_cert, pki_.client_key)).ok());
  for (const auto& [what, creds] :
       std::vector<std::pair<std::string,
                             std::shared_ptr<grpc::ChannelCredentials>>>{
           {"plaintext", grpc::InsecureChannelCredentials()},
           {"tls without a client certificate", Tls()},
           {"a client certificate of another CA",
            Tls(pki_.stranger_cert, pki_.stranger_key)}}) {
    const grpc::Status status = AskBridge(creds);
    EXPECT_EQ(status.error_code(), grpc::UNAVAILABLE)
        << what << ": " << status.error_message();
  }
}

}  // namespace
}  // namespace switchboard::testing
