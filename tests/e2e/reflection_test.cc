// Each service answers gRPC server reflection and health checks, the way
// `grpcurl -plaintext HOST:PORT list` / `describe` and Kubernetes probes ask.
#include <google/protobuf/descriptor.pb.h>

#include <map>
#include <set>

#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster.h"

namespace switchboard::testing {
namespace {

using grpc::reflection::v1alpha::ServerReflection;
using grpc::reflection::v1alpha::ServerReflectionRequest;
using grpc::reflection::v1alpha::ServerReflectionResponse;
using ::testing::IsSupersetOf;

// One reflection exchange, as grpcurl does it.
ServerReflectionResponse Ask(const std::string& address,
                             const ServerReflectionRequest& request) {
  auto stub = ServerReflection::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  auto stream = stub->ServerReflectionInfo(&context);
  ServerReflectionResponse response;
  EXPECT_TRUE(stream->Write(request));
  EXPECT_TRUE(stream->Read(&response));
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  return response;
}

std::set<std::string> ListServices(const std::string& address) {
  ServerReflectionRequest request;
  request.set_list_services("");
  const ServerReflectionResponse response = Ask(address, request);
  std::set<std::string> names;
  for (const auto& s : response.list_services_response().service()) {
    names.insert(s.name());
  }
  return names;
}

// Method name -> "client_streaming/server_streaming" flags, from the file
// descriptors the server describes the service with.
std::map<std::string, std::string> DescribeService(const std::string& address,
                                                   const std::string& service) {
  ServerReflectionRequest request;
  request.set_file_containing_symbol(service);
  ServerReflectionResponse response = Ask(address, request);
  EXPECT_FALSE(response.has_error_response())
      << response.error_response().error_message();
  std::map<std::string, std::string> methods;
  for (const std::string& bytes :
       response.file_descriptor_response().file_descriptor_proto()) {
    google::protobuf::FileDescriptorProto file;
    EXPECT_TRUE(file.ParseFromString(bytes));
    for (const auto& s : file.service()) {
      if (file.package() + "." + s.name() != service) continue;
      for (const auto& m : s.method()) {
        methods[m.name()] =
            std::string(m.client_streaming() ? "stream" : "unary") + "->" +
            (m.server_streaming() ? "stream" : "unary");
      }
    }
  }
  return methods;
}

grpc::health::v1::HealthCheckResponse::ServingStatus Health(
    const std::string& address) {
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  EXPECT_TRUE(stub->Check(&context, request, &response).ok());
  return response.status();
}

TEST(ReflectionTest, EveryServiceListsAndDescribesItsRpcsAndIsHealthy) {
  auto cluster = Cluster::Start({});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  const std::string b = (*cluster)->broadcaster_address();
  const std::string c = (*cluster)->consumer_address();
  const std::string m = (*cluster)->bridge_address();

  for (const auto& [address, service] :
       std::vector<std::pair<std::string, std::string>>{
           {b, "switchboard.v1.Broadcaster"},
           {c, "switchboard.v1.Consumer"},
           {m, "switchboard.v1.Bridge"}}) {
    EXPECT_THAT(ListServices(address),
                IsSupersetOf(std::vector<std::string>{
                    service, "switchboard.v1.Admin", "grpc.health.v1.Health",
                    "grpc.reflection.v1alpha.ServerReflection"}))
        << address;
    EXPECT_EQ(Health(address), grpc::health::v1::HealthCheckResponse::SERVING);
    EXPECT_EQ(DescribeService(address, "switchboard.v1.Admin"),
              (std::map<std::string, std::string>{{"Reload", "unary->unary"}}));
  }

  EXPECT_EQ(DescribeService(b, "switchboard.v1.Broadcaster"),
            (std::map<std::string, std::string>{{"Publish", "stream->stream"},
                                                {"GetStats", "unary->unary"}}));
  EXPECT_THAT(ListServices(b), ::testing::Contains("switchboard.v1.Regions"));
  EXPECT_EQ(DescribeService(b, "switchboard.v1.Regions"),
            (std::map<std::string, std::string>{
                {"GetSwitchConnections", "unary->unary"},
                {"ListSwitchConnections", "unary->unary"},
                {"ListRegions", "unary->unary"}}));
  EXPECT_EQ(DescribeService(c, "switchboard.v1.Consumer"),
            (std::map<std::string, std::string>{
                {"Subscribe", "stream->stream"},
                {"ListQueues", "unary->unary"},
                {"GetLinkStatus", "unary->unary"},
                {"ListLinkStatus", "unary->unary"},
                {"WatchLinkStatus", "unary->stream"}}));
  EXPECT_EQ(DescribeService(m, "switchboard.v1.Bridge"),
            (std::map<std::string, std::string>{
                {"Produce", "stream->stream"},
                {"Consume", "stream->stream"},
                {"GetQueueStats", "unary->unary"},
                {"GetTransportInfo", "unary->unary"}}));
}

}  // namespace
}  // namespace switchboard::testing
