#include "tests/testing/test_pki.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "switchboard/v1/bridge.grpc.pb.h"

namespace switchboard::testing {
namespace {

// Runs `command` in `dir` with its output in dir/openssl.log; the log is
// the error when it fails.
absl::Status Run(const std::string& dir, const std::string& command) {
  const std::string log = absl::StrCat(dir, "/openssl.log");
  const std::string line =
      absl::StrCat("cd '", dir, "' && ", command, " >>'", log, "' 2>&1");
  if (std::system(line.c_str()) == 0) return absl::OkStatus();
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  return absl::InternalError(
      absl::StrCat("'", command, "' failed:\n", text.str()));
}

absl::Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  return out ? absl::OkStatus()
             : absl::InternalError(absl::StrCat("cannot write ", path));
}

constexpr char kKey[] =
    "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

// A CA `name` (name.crt, name.key).
absl::Status MakeCa(const std::string& dir, const std::string& name) {
  return Run(dir,
             absl::StrCat("openssl req -x509 ", kKey, " -keyout ", name,
                          ".key -out ", name, ".crt -days 2 -subj /CN=", name));
}

// A certificate `name` signed by CA `ca`, with the extensions in `ext`.
absl::Status MakeCert(const std::string& dir, const std::string& ca,
                      const std::string& name, const std::string& cn,
                      const std::string& ext) {
  const std::string ext_file = absl::StrCat(dir, "/", name, ".ext");
  if (absl::Status s = WriteFile(ext_file, ext); !s.ok()) return s;
  if (absl::Status s =
          Run(dir, absl::StrCat("openssl req ", kKey, " -keyout ", name,
                                ".key -out ", name, ".csr -subj /CN=", cn));
      !s.ok()) {
    return s;
  }
  return Run(dir, absl::StrCat("openssl x509 -req -in ", name, ".csr -CA ", ca,
                               ".crt -CAkey ", ca, ".key -CAcreateserial -out ",
                               name, ".crt -days 2 -extfile ", name, ".ext"));
}

}  // namespace

absl::StatusOr<TestPki> MakeTestPki(const std::string& dir,
                                    const std::string& client_name) {
  const std::string client_ext =
      absl::StrCat("subjectAltName=URI:spiffe://switchboard/", client_name,
                   "\nextendedKeyUsage=clientAuth\n");
  for (absl::Status s :
       {MakeCa(dir, "ca"), MakeCa(dir, "other-ca"),
        MakeCert(dir, "ca", "server", "localhost",
                 "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                 "extendedKeyUsage=serverAuth\n"),
        MakeCert(dir, "ca", "client", client_name, client_ext),
        MakeCert(dir, "other-ca", "stranger", client_name, client_ext)}) {
    if (!s.ok()) return s;
  }
  auto path = [&](const char* file) { return absl::StrCat(dir, "/", file); };
  return TestPki{dir,
                 path("ca.crt"),
                 path("server.crt"),
                 path("server.key"),
                 path("client.crt"),
                 path("client.key"),
                 path("stranger.crt"),
                 path("stranger.key")};
}

std::string TestPki::ServerTlsYaml() const {
  return absl::StrCat("tls:\n  cert_file: ", server_cert,
                      "\n  key_file: ", server_key,
                      "\n  client_ca_file: ", ca_cert, "\n");
}

std::string TestPki::BridgeTlsYaml() const {
  return absl::StrCat(
      "  tls:\n    ca_file: ", ca_cert, "\n    cert_file: ", client_cert,
      "\n    key_file: ", client_key, "\n    server_name: localhost\n");
}

absl::StatusOr<CertFiles> MakeClientCert(const std::string& dir,
                                         const std::string& name,
                                         bool expired) {
  const std::string ext =
      absl::StrCat("subjectAltName=URI:spiffe://switchboard/", name,
                   "\nextendedKeyUsage=clientAuth\n");
  if (!expired) {
    if (absl::Status s = MakeCert(dir, "ca", name, name, ext); !s.ok()) {
      return s;
    }
  } else {
    // `openssl x509 -req` cannot backdate; `openssl ca` can.
    for (absl::Status s :
         {WriteFile(absl::StrCat(dir, "/ca.cnf"),
                    "[ca]\ndefault_ca = test_ca\n[test_ca]\n"
                    "database = index.txt\nnew_certs_dir = .\n"
                    "certificate = ca.crt\nprivate_key = ca.key\n"
                    "serial = ca.serial\ndefault_md = sha256\n"
                    "policy = any_name\nunique_subject = no\n"
                    "[any_name]\ncommonName = supplied\n"),
          WriteFile(absl::StrCat(dir, "/index.txt"), ""),
          WriteFile(absl::StrCat(dir, "/ca.serial"), "1000\n"),
          WriteFile(absl::StrCat(dir, "/", name, ".ext"), ext),
          Run(dir, absl::StrCat("openssl req ", kKey, " -keyout ", name,
                                ".key -out ", name, ".csr -subj /CN=", name)),
          Run(dir, absl::StrCat("openssl ca -batch -config ca.cnf -in ", name,
                                ".csr -out ", name,
                                ".crt -startdate 200101000000Z -enddate "
                                "200102000000Z -notext -extfile ",
                                name, ".ext"))}) {
      if (!s.ok()) return s;
    }
  }
  return CertFiles{absl::StrCat(dir, "/", name, ".crt"),
                   absl::StrCat(dir, "/", name, ".key")};
}

grpc::Status AskBridge(const std::string& address,
                       ClientCredentials credentials) {
  if (credentials.tls.enabled()) credentials.tls.server_name = "localhost";
  auto stub = switchboard::v1::Bridge::NewStub(
      CreateClientChannel(address, credentials));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  switchboard::v1::TransportInfo info;
  return stub->GetTransportInfo(&context, {}, &info);
}

}  // namespace switchboard::testing
