#include "tests/e2e/reflection_client.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/generic/generic_stub.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace switchboard::testing {

using grpc::reflection::v1alpha::ServerReflectionRequest;
using grpc::reflection::v1alpha::ServerReflectionResponse;

namespace {

// The reactor of GenericBidiCall.
class BidiCall final
    : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  static StreamResult Run(const std::shared_ptr<grpc::Channel>& channel,
                          const std::string& method,
                          std::vector<grpc::ByteBuffer> requests) {
    grpc::GenericStub stub(channel);
    BidiCall call(std::move(requests));
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
  explicit BidiCall(std::vector<grpc::ByteBuffer> requests)
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

}  // namespace

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

std::shared_ptr<grpc::Channel> Dial(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
}

StreamResult GenericBidiCall(const std::shared_ptr<grpc::Channel>& channel,
                             const std::string& method,
                             std::vector<grpc::ByteBuffer> requests) {
  return BidiCall::Run(channel, method, std::move(requests));
}

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

ServerReflectionResponse ReflectionClient::Ask(
    const ServerReflectionRequest& request) {
  if (!v1_unimplemented_) {
    StreamResult v1 =
        GenericBidiCall(channel_, kReflectionV1, {Serialize(request)});
    if (v1.status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      v1_unimplemented_ = true;
    } else {
      return Single(v1, "v1");
    }
  }
  return Single(
      GenericBidiCall(channel_, kReflectionV1Alpha, {Serialize(request)}),
      "v1alpha");
}

std::set<std::string> ReflectionClient::ListServices() {
  ServerReflectionRequest request;
  request.set_list_services("");
  const ServerReflectionResponse response = Ask(request);
  std::set<std::string> names;
  for (const auto& s : response.list_services_response().service()) {
    names.insert(s.name());
  }
  return names;
}

void ReflectionClient::FetchSymbol(const std::string& symbol) {
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

ServerReflectionResponse ReflectionClient::Single(const StreamResult& result,
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

void ReflectionClient::AddFiles(const ServerReflectionResponse& response) {
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

DynamicMethod::DynamicMethod(const std::string& address,
                             const std::string& service,
                             const std::string& method)
    : address_(address), reflection_(address) {
  reflection_.FetchSymbol(service);
  const google::protobuf::ServiceDescriptor* s =
      reflection_.pool().FindServiceByName(service);
  EXPECT_NE(s, nullptr) << "reflection cannot describe " << service;
  if (s != nullptr) method_ = s->FindMethodByName(method);
  EXPECT_NE(method_, nullptr) << service << "/" << method;
}

std::string DynamicMethod::path() const {
  return absl::StrCat("/", method_->service()->full_name(), "/",
                      method_->name());
}

grpc::ByteBuffer DynamicMethod::Request(const std::string& json) {
  std::unique_ptr<google::protobuf::Message> request(
      factory_.GetPrototype(method_->input_type())->New());
  auto parsed =
      google::protobuf::util::JsonStringToMessage(json, request.get());
  EXPECT_TRUE(parsed.ok()) << parsed.ToString();
  return Serialize(*request);
}

std::string DynamicMethod::ResponseJson(const grpc::ByteBuffer& buffer) {
  std::unique_ptr<google::protobuf::Message> response = Response(buffer);
  std::string json;
  EXPECT_TRUE(
      google::protobuf::util::MessageToJsonString(*response, &json).ok());
  return json;
}

std::unique_ptr<google::protobuf::Message> DynamicMethod::Response(
    const grpc::ByteBuffer& buffer) {
  std::unique_ptr<google::protobuf::Message> response(
      factory_.GetPrototype(method_->output_type())->New());
  EXPECT_TRUE(Parse(buffer, response.get()));
  return response;
}

absl::StatusOr<std::string> DynamicMethod::CallUnary(const std::string& json) {
  grpc::ByteBuffer response;
  grpc::Status status =
      GenericUnaryCall(Dial(address_), path(), Request(json), &response);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        status.error_message());
  }
  return ResponseJson(response);
}

StreamResult DynamicMethod::CallStream(
    const std::vector<std::string>& json_requests) {
  std::vector<grpc::ByteBuffer> requests;
  for (const std::string& json : json_requests) {
    requests.push_back(Request(json));
  }
  return GenericBidiCall(Dial(address_), path(), std::move(requests));
}

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

}  // namespace switchboard::testing
