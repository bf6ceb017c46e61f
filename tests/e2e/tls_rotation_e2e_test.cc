// Certificate rotation while a producer and a subscriber stream, as
// cert-manager does it: the bridge's and its clients' certificate files are
// replaced in place by ones of a new CA. From then on the new certificates
// are used (the broadcaster and the consumer reconnect with theirs), a
// client with the old certificate is refused, and nothing accepted is lost
// or seen twice.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testing/blackhole_proxy.h"
#include "tests/testing/cluster.h"
#include "tests/testing/delivery_ledger.h"
#include "tests/testing/process.h"
#include "tests/testing/resilient_clients.h"
#include "tests/testing/test_pki.h"

namespace switchboard::testing {
namespace {

// Replaces `to` with a copy of `from` by rename(2): a reader sees the old
// file or the new one, never half of it.
void Install(const std::string& from, const std::string& to) {
  const std::string temp = to + ".new";
  { std::ofstream(temp) << ReadFile(from); }
  ASSERT_EQ(std::rename(temp.c_str(), to.c_str()), 0) << to;
}

// A client with `cert`, trusting `ca`.
ClientCredentials Client(const std::string& ca, const CertFiles& cert) {
  ClientCredentials c;
  c.tls.ca_file = ca;
  c.tls.cert_file = cert.cert;
  c.tls.key_file = cert.key;
  return c;
}

TEST(TlsRotationTest, NewCertificatesTakeOverWhileEventsFlow) {
  auto old_pki = MakeTestPki(NewTempDir("pki-old"), "switchboard");
  auto new_pki = MakeTestPki(NewTempDir("pki-new"), "switchboard");
  ASSERT_TRUE(old_pki.ok()) << old_pki.status();
  ASSERT_TRUE(new_pki.ok()) << new_pki.status();
  // The files the services read, as a mounted secret holds them. Clients
  // trust both CAs while the rotation runs (a CA bundle).
  const std::string live = NewTempDir("live");
  const std::string server_cert = live + "/server.crt";
  const std::string server_key = live + "/server.key";
  const std::string client_ca = live + "/client-ca.crt";
  const std::string client_cert = live + "/client.crt";
  const std::string client_key = live + "/client.key";
  const std::string trusted = live + "/trusted.crt";
  Install(old_pki->server_cert, server_cert);
  Install(old_pki->server_key, server_key);
  Install(old_pki->ca_cert, client_ca);
  Install(old_pki->client_cert, client_cert);
  Install(old_pki->client_key, client_key);
  {
    std::ofstream(trusted) << ReadFile(old_pki->ca_cert)
                           << ReadFile(new_pki->ca_cert);
  }

  // The links to the bridge go through proxies, to make the broadcaster
  // and the consumer reconnect on cue.
  const int bridge_port = PickFreePort();
  auto producer_link = BlackholeProxy::Start(bridge_port);
  auto consumer_link = BlackholeProxy::Start(bridge_port);
  ASSERT_TRUE(producer_link.ok() && consumer_link.ok());
  Cluster::Options options;
  options.bridge_yaml = absl::StrCat(
      "listen: 127.0.0.1:", bridge_port, "\n",
      "tls:\n  cert_file: ", server_cert, "\n  key_file: ", server_key,
      "\n  client_ca_file: ", client_ca, "\n  refresh_interval: 1s\n");
  const std::string bridge_tls = absl::StrCat(
      "  tls:\n    ca_file: ", trusted, "\n    cert_file: ", client_cert,
      "\n    key_file: ", client_key,
      "\n    server_name: localhost\n    refresh_interval: 1s\n");
  options.broadcaster_yaml =
      absl::StrCat("listen: 127.0.0.1:0\nbridge:\n  address: 127.0.0.1:",
                   (*producer_link)->port(),
                   "\n  backoff_initial: 20ms\n  backoff_max: 200ms\n",
                   bridge_tls, "routing:\n  verbose_queue: ''\n");
  options.consumer_yaml =
      absl::StrCat("listen: 127.0.0.1:0\nbridge:\n  address: 127.0.0.1:",
                   (*consumer_link)->port(), "\n", bridge_tls);
  auto cluster = Cluster::Start(options);
  ASSERT_TRUE(cluster.ok()) << cluster.status();

  DeliveryLedger ledger;
  ResendingProducer::Options producer_options;
  producer_options.address = (*cluster)->broadcaster_address();
  producer_options.source = "rotation/p";
  producer_options.id_prefix = "r-";
  producer_options.events_per_second = 500;
  ResendingProducer producer(producer_options, &ledger);
  ResubscribingApp::Options app_options;
  app_options.address = (*cluster)->consumer_address();
  app_options.queues = {"app.rotation.p"};
  ResubscribingApp app(app_options, &ledger);
  ASSERT_TRUE(Eventually([&] { return ledger.Count().received >= 500; }))
      << app.Summary() << (*cluster)->Log("bridge");

  // Rotation: new server certificate, new client CA, new client
  // certificate, each file replaced whole.
  const CertFiles old_client{old_pki->client_cert, old_pki->client_key};
  const CertFiles new_client{new_pki->client_cert, new_pki->client_key};
  const std::string bridge = (*cluster)->bridge_address();
  ASSERT_TRUE(AskBridge(bridge, Client(trusted, old_client)).ok());
  Install(new_pki->client_cert, client_cert);
  Install(new_pki->client_key, client_key);
  Install(new_pki->server_key, server_key);
  Install(new_pki->server_cert, server_cert);
  Install(new_pki->ca_cert, client_ca);
  // Within refresh_interval the bridge takes the new files: a client with
  // the old certificate is refused, one with the new is served (each
  // attempt is a new connection: a new channel).
  ASSERT_TRUE(Eventually([&] {
    return AskBridge(bridge, Client(trusted, old_client)).error_code() ==
               grpc::UNAVAILABLE &&
           AskBridge(bridge, Client(trusted, new_client)).ok();
  })) << (*cluster)->Log("bridge");
  // The open streams went on; now the broadcaster and the consumer must
  // connect again, with their new certificates.
  const uint64_t before = ledger.Count().received;
  (*producer_link)->Reset();
  (*consumer_link)->Reset();
  ASSERT_TRUE(Eventually([&] {
    return ledger.Count().received >= before + 500;
  })) << producer.Summary()
      << app.Summary() << (*cluster)->Log("broadcaster")
      << (*cluster)->Log("consumer") << (*cluster)->Log("bridge");

  producer.StopProducing();
  ASSERT_TRUE(producer.AwaitAllAnswered(absl::Seconds(60)))
      << producer.Summary();
  ASSERT_TRUE(Eventually([&] { return ledger.AllAcceptedReceived(); }))
      << ledger.Count().Details() << app.Summary();
  const DeliveryLedger::Tally tally = ledger.Count();
  std::cout << "rotation: " << tally.Line() << std::endl;
  EXPECT_EQ(tally.lost, 0u) << tally.Details();
  EXPECT_EQ(tally.duplicated, 0u) << tally.Details();
}

}  // namespace
}  // namespace switchboard::testing
