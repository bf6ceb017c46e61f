#ifndef SWITCHBOARD_TESTS_E2E_REFLECTION_CLIENT_H_
#define SWITCHBOARD_TESTS_E2E_REFLECTION_CLIENT_H_

// A grpcurl in a few classes, for reflection_test: nothing compiled in but the
// reflection protocol itself. Like grpcurl, it fetches a service's descriptors
// through reflection, builds request messages from JSON with
// google::protobuf::DynamicMessageFactory and calls through grpc::GenericStub.

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/descriptor_database.h>
#include <google/protobuf/dynamic_message.h>
#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpc/reflection/v1alpha/reflection.pb.h"

namespace switchboard::testing {

// Bound on every call: a service that never answers fails the test instead
// of hanging it.
inline constexpr absl::Duration kCallDeadline = absl::Seconds(60);

// grpc.reflection.v1 and v1alpha are the same protocol under two names (the
// messages are identical on the wire); grpcurl 1.9+ asks v1 first and falls
// back to v1alpha when v1 is UNIMPLEMENTED.
inline constexpr char kReflectionV1[] =
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
inline constexpr char kReflectionV1Alpha[] =
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

grpc::ByteBuffer Serialize(const google::protobuf::Message& message);

bool Parse(const grpc::ByteBuffer& buffer, google::protobuf::Message* out);

std::shared_ptr<grpc::Channel> Dial(const std::string& address);

// What a streaming call gave back.
struct StreamResult {
  grpc::Status status;
  std::vector<grpc::ByteBuffer> responses;
};

// A bidirectional call through grpc::GenericStub: writes `requests`, closes
// its side (as grpcurl does after its -d messages), then reads every
// response until the server ends the call.
StreamResult GenericBidiCall(const std::shared_ptr<grpc::Channel>& channel,
                             const std::string& method,
                             std::vector<grpc::ByteBuffer> requests);

grpc::Status GenericUnaryCall(const std::shared_ptr<grpc::Channel>& channel,
                              const std::string& method,
                              const grpc::ByteBuffer& request,
                              grpc::ByteBuffer* response);

// The reflection client grpcurl is: one request per stream, on v1 if the
// server speaks it, else on v1alpha. Failures are gtest failures.
class ReflectionClient {
 public:
  explicit ReflectionClient(const std::string& address)
      : channel_(Dial(address)) {}

  // grpc.reflection.v1 first; UNIMPLEMENTED switches to v1alpha for good.
  grpc::reflection::v1alpha::ServerReflectionResponse Ask(
      const grpc::reflection::v1alpha::ServerReflectionRequest& request);

  bool v1_unimplemented() const { return v1_unimplemented_; }

  std::set<std::string> ListServices();

  // Adds the file that defines `symbol`, and every file it imports, to
  // `database_`, asking by file name for imports the server did not send.
  void FetchSymbol(const std::string& symbol);

  // The descriptors fetched so far.
  const google::protobuf::DescriptorPool& pool() { return pool_; }

 private:
  grpc::reflection::v1alpha::ServerReflectionResponse Single(
      const StreamResult& result, const std::string& version);

  void AddFiles(
      const grpc::reflection::v1alpha::ServerReflectionResponse& response);

  std::set<std::string> FileNames() const { return names_; }

  std::shared_ptr<grpc::Channel> channel_;
  bool v1_unimplemented_ = false;
  std::set<std::string> names_;
  google::protobuf::SimpleDescriptorDatabase database_;
  google::protobuf::DescriptorPool pool_{&database_};
};

// A method called the way grpcurl calls it: descriptors from reflection,
// messages from and to JSON.
class DynamicMethod {
 public:
  // Fetches `service`'s descriptors from the server at `address`.
  DynamicMethod(const std::string& address, const std::string& service,
                const std::string& method);

  bool ok() const { return method_ != nullptr; }
  std::string path() const;

  // The request as grpcurl's -d builds it.
  grpc::ByteBuffer Request(const std::string& json);

  // A response as grpcurl prints it (without the indentation).
  std::string ResponseJson(const grpc::ByteBuffer& buffer);

  // The response as a dynamic message, to read its fields.
  std::unique_ptr<google::protobuf::Message> Response(
      const grpc::ByteBuffer& buffer);

  // A unary call; the response as JSON.
  absl::StatusOr<std::string> CallUnary(const std::string& json);

  // A streaming call with the requests given, then a half-close.
  StreamResult CallStream(const std::vector<std::string>& json_requests);

 private:
  std::string address_;
  ReflectionClient reflection_;
  const google::protobuf::MethodDescriptor* method_ = nullptr;
  google::protobuf::DynamicMessageFactory factory_;
};

// Method name -> "client_streaming/server_streaming" flags, from the file
// descriptors the server describes the service with.
std::map<std::string, std::string> DescribeService(const std::string& address,
                                                   const std::string& service);

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_E2E_REFLECTION_CLIENT_H_
