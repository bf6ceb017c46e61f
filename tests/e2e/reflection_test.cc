// Each service answers gRPC server reflection and health checks the way
// `grpcurl -plaintext HOST:PORT list` / `describe` / a call, and Kubernetes
// probes, ask. The calls below use nothing compiled in but the reflection
// protocol itself: like grpcurl, they fetch the services' descriptors through
// reflection, build request messages from JSON with
// google::protobuf::DynamicMessageFactory and call through grpc::GenericStub.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/descriptor_database.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/generic/generic_stub.h>

#include <map>
#include <memory>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "grpc/reflection/v1alpha/reflection.pb.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster.h"

namespace switchboard::testing {
namespace {

using grpc::reflection::v1alpha::ServerReflectionRequest;
using grpc::reflection::v1alpha::ServerReflectionResponse;
using ::testing::IsSupersetOf;

// Bound on every call: a service that never answers fails the test instead
// of hanging it.
constexpr absl::Duration kCallDeadline = absl::Seconds(60);

// grpc.reflection.v1 and v1alpha are the same protocol under two names (the
// messages are identical on the wire); grpcurl 1.9+ asks v1 first and falls
// back to v1alpha when v1 is UNIMPLEMENTED.
constexpr char kReflectionV1[] =
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
constexpr char kReflectionV1Alpha[] =
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

grpc::ByteBuffer Serialize(const google::protobuf::Message& message) {
  const std::string bytes = message.SerializeAsString();
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

bool Parse(const grpc::ByteBuffer& buffer, google::protobuf::Message* out) {
  grpc::Slice slice;
  if (!buffer.TrySingleSlice(&slice).ok() &&
      !buffer.DumpToSingleSlice(&slice).ok()) {
    return false;
  }
  return out->ParseFromArray(slice.begin(), static_cast<int>(slice.size()));
}

// What a streaming call gave back.
struct StreamResult {
  grpc::Status status;
  std::vector<grpc::ByteBuffer> responses;
};

// A bidirectional call through grpc::GenericStub: writes `requests`, closes
// its side (as grpcurl does after its -d messages), then reads every
// response until the server ends the call.
class GenericBidiCall final
    : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  static StreamResult Run(const std::shared_ptr<grpc::Channel>& channel,
                          const std::string& method,
                          std::vector<grpc::ByteBuffer> requests) {
    grpc::GenericStub stub(channel);
    GenericBidiCall call(std::move(requests));
    call.context_.set_deadline(absl::ToChronoTime(absl::Now() + kCallDeadline));
    stub.PrepareBidiStreamingCall(&call.context_, method, grpc::StubOptions(),
                                  &call);
    call.StartRead(&call.response_);
    call.WriteNext();
    call.StartCall();
    call.done_.WaitForNotification();
    return std::move(call.result_);
  }

 private:
  explicit GenericBidiCall(std::vector<grpc::ByteBuffer> requests)
      : requests_(std::move(requests)) {}

  // Called from one reaction at a time (writes are chained).
  void WriteNext() {
    if (next_ < requests_.size()) {
      StartWrite(&requests_[next_++]);
    } else {
      StartWritesDone();
    }
  }
  void OnWriteDone(bool ok) override {
    if (ok) WriteNext();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    result_.responses.push_back(response_);
    StartRead(&response_);
  }
  void OnDone(const grpc::Status& status) override {
    result_.status = status;
    done_.Notify();
  }

  grpc::ClientContext context_;
  std::vector<grpc::ByteBuffer> requests_;
  size_t next_ = 0;
  grpc::ByteBuffer response_;
  StreamResult result_;
  absl::Notification done_;
};

grpc::Status GenericUnaryCall(const std::shared_ptr<grpc::Channel>& channel,
                              const std::string& method,
                              const grpc::ByteBuffer& request,
                              grpc::ByteBuffer* response) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kCallDeadline));
  absl::Notification done;
  grpc::Status result;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, response,
                 [&](grpc::Status status) {
                   result = std::move(status);
                   done.Notify();
                 });
  done.WaitForNotification();
  return result;
}

std::shared_ptr<grpc::Channel> Dial(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
}

// The reflection client grpcurl is: one request per stream, on v1 if the
// server speaks it, else on v1alpha.
class ReflectionClient {
 public:
  explicit ReflectionClient(const std::string& address)
      : channel_(Dial(address)) {}

  // grpc.reflection.v1 first; UNIMPLEMENTED switches to v1alpha for good.
  ServerReflectionResponse Ask(const ServerReflectionRequest& request) {
    if (!v1_unimplemented_) {
      StreamResult v1 =
          GenericBidiCall::Run(channel_, kReflectionV1, {Serialize(request)});
      if (v1.status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
        v1_unimplemented_ = true;
      } else {
        return Single(v1, "v1");
      }
    }
    return Single(GenericBidiCall::Run(channel_, kReflectionV1Alpha,
                                       {Serialize(request)}),
                  "v1alpha");
  }

  bool v1_unimplemented() const { return v1_unimplemented_; }

  std::set<std::string> ListServices() {
    ServerReflectionRequest request;
    request.set_list_services("");
    const ServerReflectionResponse response = Ask(request);
    std::set<std::string> names;
    for (const auto& s : response.list_services_response().service()) {
      names.insert(s.name());
    }
    return names;
  }

  // Adds the file that defines `symbol`, and every file it imports, to
  // `database_`, asking by file name for imports the server did not send.
  void FetchSymbol(const std::string& symbol) {
    ServerReflectionRequest request;
    request.set_file_containing_symbol(symbol);
    AddFiles(Ask(request));
    for (bool missing = true; missing;) {
      missing = false;
      for (const std::string& name : FileNames()) {
        google::protobuf::FileDescriptorProto file;
        database_.FindFileByName(name, &file);
        for (const std::string& import : file.dependency()) {
          google::protobuf::FileDescriptorProto known;
          if (database_.FindFileByName(import, &known)) continue;
          ServerReflectionRequest by_name;
          by_name.set_file_by_filename(import);
          AddFiles(Ask(by_name));
          missing = true;
        }
      }
    }
  }

  // The descriptors fetched so far.
  const google::protobuf::DescriptorPool& pool() { return pool_; }

 private:
  ServerReflectionResponse Single(const StreamResult& result,
                                  const std::string& version) {
    ServerReflectionResponse response;
    EXPECT_TRUE(result.status.ok())
        << version << ": " << result.status.error_message();
    EXPECT_EQ(result.responses.size(), 1u) << version;
    if (!result.responses.empty()) {
      EXPECT_TRUE(Parse(result.responses[0], &response)) << version;
    }
    EXPECT_FALSE(response.has_error_response())
        << version << ": " << response.error_response().error_message();
    return response;
  }

  void AddFiles(const ServerReflectionResponse& response) {
    for (const std::string& bytes :
         response.file_descriptor_response().file_descriptor_proto()) {
      google::protobuf::FileDescriptorProto file;
      ASSERT_TRUE(file.ParseFromString(bytes));
      google::protobuf::FileDescriptorProto known;
      if (database_.FindFileByName(file.name(), &known)) continue;
      names_.insert(file.name());
      database_.Add(file);
    }
  }

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
                const std::string& method)
      : address_(address), reflection_(address) {
    reflection_.FetchSymbol(service);
    const google::protobuf::ServiceDescriptor* s =
        reflection_.pool().FindServiceByName(service);
    EXPECT_NE(s, nullptr) << "reflection cannot describe " << service;
    if (s != nullptr) method_ = s->FindMethodByName(method);
    EXPECT_NE(method_, nullptr) << service << "/" << method;
  }

  bool ok() const { return method_ != nullptr; }
  std::string path() const {
    return absl::StrCat("/", method_->service()->full_name(), "/",
                        method_->name());
  }

  // The request as grpcurl's -d builds it.
  grpc::ByteBuffer Request(const std::string& json) {
    std::unique_ptr<google::protobuf::Message> request(
        factory_.GetPrototype(method_->input_type())->New());
    auto parsed =
        google::protobuf::util::JsonStringToMessage(json, request.get());
    EXPECT_TRUE(parsed.ok()) << parsed.ToString();
    return Serialize(*request);
  }

  // A response as grpcurl prints it (without the indentation).
  std::string ResponseJson(const grpc::ByteBuffer& buffer) {
    std::unique_ptr<google::protobuf::Message> response(
        factory_.GetPrototype(method_->output_type())->New());
    EXPECT_TRUE(Parse(buffer, response.get()));
    std::string json;
    EXPECT_TRUE(
        google::protobuf::util::MessageToJsonString(*response, &json).ok());
    return json;
  }

  // The response as a dynamic message, to read its fields.
  std::unique_ptr<google::protobuf::Message> Response(
      const grpc::ByteBuffer& buffer) {
    std::unique_ptr<google::protobuf::Message> response(
        factory_.GetPrototype(method_->output_type())->New());
    EXPECT_TRUE(Parse(buffer, response.get()));
    return response;
  }

  // A unary call; the response as JSON.
  absl::StatusOr<std::string> CallUnary(const std::string& json) {
    grpc::ByteBuffer response;
    grpc::Status status =
        GenericUnaryCall(Dial(address_), path(), Request(json), &response);
    if (!status.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          status.error_message());
    }
    return ResponseJson(response);
  }

  // A streaming call with the requests given, then a half-close.
  StreamResult CallStream(const std::vector<std::string>& json_requests) {
    std::vector<grpc::ByteBuffer> requests;
    for (const std::string& json : json_requests) {
      requests.push_back(Request(json));
    }
    return GenericBidiCall::Run(Dial(address_), path(), std::move(requests));
  }

 private:
  std::string address_;
  ReflectionClient reflection_;
  const google::protobuf::MethodDescriptor* method_ = nullptr;
  google::protobuf::DynamicMessageFactory factory_;
};

// Method name -> "client_streaming/server_streaming" flags, from the file
// descriptors the server describes the service with.
std::map<std::string, std::string> DescribeService(const std::string& address,
                                                   const std::string& service) {
  ReflectionClient reflection(address);
  ServerReflectionRequest request;
  request.set_file_containing_symbol(service);
  ServerReflectionResponse response = reflection.Ask(request);
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
    StreamResult v1 = GenericBidiCall::Run(Dial(address), kReflectionV1,
                                           {Serialize(request)});
    EXPECT_TRUE(v1.status.ok() ||
                v1.status.error_code() == grpc::StatusCode::UNIMPLEMENTED)
        << address << ": " << v1.status.error_code() << " "
        << v1.status.error_message();
    StreamResult v1alpha = GenericBidiCall::Run(
        Dial(address), kReflectionV1Alpha, {Serialize(request)});
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
