#ifndef SWITCHBOARD_TESTS_TESTING_TEST_PKI_H_
#define SWITCHBOARD_TESTS_TESTING_TEST_PKI_H_

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/status/statusor.h"
#include "services/common/client_channel.h"

namespace switchboard::testing {

// A throwaway PKI made with the openssl command line, as the README's
// "Security" steps make one: a CA, a server certificate for localhost and
// 127.0.0.1, a client certificate (CN and URI SAN name `client_name`),
// and a second CA with a client certificate of its own that the first CA
// does not vouch for. Every file is PEM, in `dir`.
struct TestPki {
  std::string dir;
  std::string ca_cert;
  std::string server_cert;
  std::string server_key;
  std::string client_cert;
  std::string client_key;
  std::string stranger_cert;  // signed by another CA
  std::string stranger_key;

  // A service's `tls` section serving the server certificate and
  // requiring client certificates of the CA.
  std::string ServerTlsYaml() const;
  // `bridge.tls` (indented under `bridge:`) with the client certificate.
  std::string BridgeTlsYaml() const;
};

absl::StatusOr<TestPki> MakeTestPki(const std::string& dir,
                                    const std::string& client_name = "app");

// Another client certificate from the CA of the PKI in `dir` (CN `name`,
// URI SAN spiffe://switchboard/<name>); `expired`: valid only on
// 2020-01-01 (made with `openssl ca -startdate/-enddate`).
struct CertFiles {
  std::string cert;
  std::string key;
};
absl::StatusOr<CertFiles> MakeClientCert(const std::string& dir,
                                         const std::string& name,
                                         bool expired = false);

// GetTransportInfo on the bridge at `address`, through a new channel (a
// new connection) with `credentials`; the server's certificate must name
// localhost.
grpc::Status AskBridge(const std::string& address,
                       ClientCredentials credentials);

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_TEST_PKI_H_
