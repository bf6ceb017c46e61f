// Each service answers gRPC server reflection and health checks the way
// `grpcurl -plaintext HOST:PORT list` / `describe` / a call, and Kubernetes
// probes, ask. The calls below use nothing compiled in but the reflection
// protocol itself (reflection_client.h): like grpcurl, they fetch the
// services' descriptors through reflection, build request messages from JSON
// with google::protobuf::DynamicMessageFactory and call through
// grpc::GenericStub.
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpc/reflection/v1alpha/reflection.pb.h"
#include "gtest/gtest.h"
#include "tests/e2e/reflection_client.h"
#include "tests/testing/cluster.h"

namespace switchboard::testing {
namespace {

using grpc::reflection::v1alpha::ServerReflectionRequest;
using grpc::reflection::v1alpha::ServerReflectionResponse;
using ::testing::IsSupersetOf;

class ReflectionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto cluster = Cluster::Start({});
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = cluster->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  // (address, main service) of the three services.
  static std::vector<std::pair<std::string, std::string>> Services() {
    return {{cluster_->broadcaster_address(), "switchboard.v1.Broadcaster"},
            {cluster_->consumer_address(), "switchboard.v1.Consumer"},
            {cluster_->bridge_address(), "switchboard.v1.Bridge"}};
  }

  static Cluster* cluster_;
};

Cluster* ReflectionTest::cluster_ = nullptr;

TEST_F(ReflectionTest, EveryServiceListsAndDescribesItsRpcs) {
  const std::string b = cluster_->broadcaster_address();
  const std::string c = cluster_->consumer_address();
  const std::string m = cluster_->bridge_address();
  for (const auto& [address, service] : Services()) {
    EXPECT_THAT(ReflectionClient(address).ListServices(),
                IsSupersetOf(std::vector<std::string>{
                    service, "switchboard.v1.Admin", "grpc.health.v1.Health",
                    "grpc.reflection.v1alpha.ServerReflection"}))
        << address;
    EXPECT_EQ(DescribeService(address, "switchboard.v1.Admin"),
              (std::map<std::string, std::string>{{"Reload", "unary->unary"}}));
    EXPECT_EQ(DescribeService(address, "grpc.health.v1.Health"),
              (std::map<std::string, std::string>{{"Check", "unary->unary"},
                                                  {"Watch", "unary->stream"}}))
        << address;
  }

  EXPECT_EQ(DescribeService(b, "switchboard.v1.Broadcaster"),
            (std::map<std::string, std::string>{{"Publish", "stream->stream"},
                                                {"GetStats", "unary->unary"}}));
  EXPECT_THAT(ReflectionClient(b).ListServices(),
              ::testing::Contains("switchboard.v1.Regions"));
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

// grpcurl 1.9+ asks grpc.reflection.v1 first: the services must either
// answer it or say UNIMPLEMENTED (Debian's gRPC 1.51 serves v1alpha only),
// so that grpcurl falls back to v1alpha, which must answer.
TEST_F(ReflectionTest, V1IsAnsweredOrUnimplementedAndV1AlphaAnswers) {
  for (const auto& [address, service] : Services()) {
    ServerReflectionRequest request;
    request.set_list_services("");
    StreamResult v1 =
        GenericBidiCall(Dial(address), kReflectionV1, {Serialize(request)});
    EXPECT_TRUE(v1.status.ok() ||
                v1.status.error_code() == grpc::StatusCode::UNIMPLEMENTED)
        << address << ": " << v1.status.error_code() << " "
        << v1.status.error_message();
    StreamResult v1alpha = GenericBidiCall(Dial(address), kReflectionV1Alpha,
                                           {Serialize(request)});
    ASSERT_TRUE(v1alpha.status.ok()) << v1alpha.status.error_message();
    ASSERT_EQ(v1alpha.responses.size(), 1u);
    ServerReflectionResponse response;
    ASSERT_TRUE(Parse(v1alpha.responses[0], &response));
    EXPECT_GT(response.list_services_response().service_size(), 0);
  }
}

// `grpcurl -plaintext HOST:PORT grpc.health.v1.Health/Check`, with and
// without a service name.
TEST_F(ReflectionTest, HealthCheckWithDescriptorsFromReflectionOnly) {
  for (const auto& [address, service] : Services()) {
    DynamicMethod check(address, "grpc.health.v1.Health", "Check");
    ASSERT_TRUE(check.ok()) << address;
    auto overall = check.CallUnary("{}");
    ASSERT_TRUE(overall.ok()) << address << ": " << overall.status();
    EXPECT_EQ(*overall, R"({"status":"SERVING"})") << address;
    auto named =
        check.CallUnary(absl::StrCat(R"({"service": ")", service, R"("})"));
    ASSERT_TRUE(named.ok()) << address << ": " << named.status();
    EXPECT_EQ(*named, R"({"status":"SERVING"})") << address;
    auto unknown = check.CallUnary(R"({"service": "no.such.Service"})");
    EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound) << address;
  }
}

// README's example, literally:
//   grpcurl -plaintext -d '{"open": {"queues": ["verbose"], "credit": 10}}'
//     localhost:50052 switchboard.v1.Consumer/Subscribe
// grpcurl sends the one message and half-closes at once; the consumer keeps
// delivering, events published afterwards too, until `credit` deliveries
// are out (it cannot ack them); then the stream ends OK, giving them back
// to the queue.
TEST_F(ReflectionTest,
       SubscribeReadmeExampleWithDescriptorsFromReflectionOnly) {
  const int kEvents = 12;
  const int kCredit = 10;
  auto verbose = [] {
    auto queues = ListQueues(cluster_->consumer_address());
    switchboard::v1::QueueInfo info;
    if (queues.ok()) {
      for (const auto& q : queues->queues()) {
        if (q.name() == "verbose") info = q;
      }
    }
    return info;
  };
  const uint64_t depth_before = verbose().depth();

  DynamicMethod subscribe(cluster_->consumer_address(),
                          "switchboard.v1.Consumer", "Subscribe");
  ASSERT_TRUE(subscribe.ok());
  StreamResult result;
  std::thread call([&] {
    result = subscribe.CallStream(
        {R"({"open": {"queues": ["verbose"], "credit": 10}})"});
  });
  // Publish once the subscription is open, after the half-close: the
  // deliveries can only come through a stream that outlived it.
  const bool subscribed =
      Eventually([&] { return verbose().subscribers() == 1; });
  if (subscribed) {
    auto published =
        Publish(cluster_->broadcaster_address(),
                MakeEvents("grpcurl/test", "grpcurl.test", kEvents));
    EXPECT_TRUE(published.ok()) << published.status();
  }
  call.join();
  ASSERT_TRUE(subscribed) << "the subscription ended at once";
  EXPECT_TRUE(result.status.ok())
      << result.status.error_code() << " " << result.status.error_message();
  int deliveries = 0;
  std::set<std::string> ids;
  for (const grpc::ByteBuffer& buffer : result.responses) {
    auto response = subscribe.Response(buffer);
    const auto* field =
        response->GetDescriptor()->FindFieldByName("deliveries");
    ASSERT_NE(field, nullptr);
    const auto* reflection = response->GetReflection();
    for (int i = 0; i < reflection->FieldSize(*response, field); ++i) {
      const auto& delivery =
          reflection->GetRepeatedMessage(*response, field, i);
      const auto& event = delivery.GetReflection()->GetMessage(
          delivery, delivery.GetDescriptor()->FindFieldByName("event"));
      ids.insert(event.GetReflection()->GetString(
          event, event.GetDescriptor()->FindFieldByName("id")));
      ++deliveries;
    }
    EXPECT_THAT(subscribe.ResponseJson(buffer),
                ::testing::HasSubstr(R"("queue":"verbose")"));
  }
  EXPECT_EQ(deliveries, kCredit);
  EXPECT_EQ(ids.size(), static_cast<size_t>(kCredit));
  // Unacked, they went back to the queue.
  EXPECT_TRUE(Eventually([&] {
    return verbose().depth() == depth_before + kEvents;
  })) << verbose().depth();
}

}  // namespace
}  // namespace switchboard::testing
