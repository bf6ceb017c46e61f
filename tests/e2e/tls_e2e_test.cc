// TLS on the services' links, through the three real binaries: the bridge
// serves TLS and requires a client certificate from its CA; the broadcaster
// and the consumer present theirs (`bridge.tls`), and events flow. Clients
// without TLS, without a certificate or with one from another CA are
// refused.
#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
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
    options.bridge_yaml += pki_.ServerTlsYaml();
    // Appended under `bridge:`, the last section of both.
    const std::string bridge_tls = pki_.BridgeTlsYaml();
    options.broadcaster_yaml += bridge_tls;
    options.consumer_yaml += bridge_tls;
    auto cluster = Cluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
  }

  // Client credentials trusting the test CA, presenting `cert` when set
  // (kPlaintext: no TLS at all).
  ClientCredentials Client(const std::string& cert = "",
                           const std::string& key = "") {
    ClientCredentials c;
    c.tls.ca_file = pki_.ca_cert;
    c.tls.cert_file = cert;
    c.tls.key_file = key;
    return c;
  }

  TestPki pki_;
  std::unique_ptr<Cluster> cluster_;
};

TEST_F(TlsTest, EventsFlowOverMutualTlsToTheBridge) {
  auto answers = Publish(cluster_->broadcaster_address(),
                         MakeEvents("kytos/topology", "t", 3));
  ASSERT_TRUE(answers.ok()) << answers.status();
  ASSERT_TRUE(cluster_->AwaitDepth("app.kytos.topology", 3));
  auto app = Subscriber::Open(cluster_->consumer_address(),
                              {"app.kytos.topology"}, 10, /*auto_ack=*/true);
  ASSERT_TRUE(app.ok()) << app.status();
  EXPECT_EQ((*app)->WaitFor(3).size(), 3u) << cluster_->Log("consumer");
  EXPECT_THAT(cluster_->Log("bridge"),
              HasSubstr("(client certificates required)"));
}

TEST_F(TlsTest, TheBridgeRefusesClientsWithoutAValidCertificate) {
  const std::string bridge = cluster_->bridge_address();
  EXPECT_TRUE(
      AskBridge(bridge, Client(pki_.client_cert, pki_.client_key)).ok());
  for (const auto& [what, credentials] :
       std::vector<std::pair<std::string, ClientCredentials>>{
           {"plaintext", ClientCredentials()},
           {"tls without a client certificate", Client()},
           {"a client certificate of another CA",
            Client(pki_.stranger_cert, pki_.stranger_key)}}) {
    const grpc::Status status = AskBridge(bridge, credentials);
    EXPECT_EQ(status.error_code(), grpc::UNAVAILABLE)
        << what << ": " << status.error_message();
  }
}

}  // namespace
}  // namespace switchboard::testing
