// grpc.health.v1 as probes see it, through the real service binaries: the
// bridge's service turns NOT_SERVING while its transport (a real, private
// rabbitmq-server) is down, and SERVING again once it is back; the overall
// status stays SERVING while the process is up.
#include <signal.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster.h"
#include "tests/testing/rabbitmq_environment.h"

namespace switchboard::testing {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// Bound on each wait: a service that never changes its status fails the
// test instead of hanging it.
constexpr absl::Duration kWait = absl::Minutes(2);

absl::StatusOr<HealthCheckResponse::ServingStatus> Check(
    const std::string& address, const std::string& service) {
  auto stub = Health::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
  HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        status.error_message());
  }
  return response.status();
}

// A Health/Watch stream: the current status, then each change.
class Watch {
 public:
  Watch(const std::string& address, const std::string& service)
      : stub_(Health::NewStub(
            grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))) {
    HealthCheckRequest request;
    request.set_service(service);
    reader_ = stub_->Watch(&context_, request);
  }
  ~Watch() { context_.TryCancel(); }

  // Reads statuses until `want` (true) or the stream ends, bounded by kWait
  // from now.
  bool WaitFor(HealthCheckResponse::ServingStatus want) {
    const absl::Time deadline = absl::Now() + kWait;
    HealthCheckResponse response;
    while (absl::Now() < deadline && reader_->Read(&response)) {
      seen_.push_back(response.status());
      if (response.status() == want) return true;
    }
    return false;
  }

  std::string Seen() const {
    std::string out;
    for (auto s : seen_) {
      absl::StrAppend(&out, HealthCheckResponse::ServingStatus_Name(s), " ");
    }
    return out;
  }

 private:
  std::unique_ptr<Health::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> reader_;
  std::vector<HealthCheckResponse::ServingStatus> seen_;
};

TEST(HealthEndToEndTest, BridgeIsNotServingWhileItsBrokerIsDown) {
  Cluster::Options options;
  options.bridge_yaml = SharedRabbitMqBridgeYaml("health") +
                        "health:\n"
                        "  transport_timeout: 2s\n";
  options.broadcaster_yaml +=
      "routing:\n  verbose_queue: health.verbose\n"
      "  app_queue_prefix: health.app.\n";
  auto cluster = Cluster::Start(options);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  const std::string bridge = (*cluster)->bridge_address();
  const std::string kBridgeService = "switchboard.v1.Bridge";

  Watch watch(bridge, kBridgeService);
  ASSERT_TRUE(watch.WaitFor(HealthCheckResponse::SERVING)) << watch.Seen();

  SharedRabbitMq().Kill();
  // Accepted by the broadcaster and handed to the bridge, whose transport
  // holds it while it reconnects.
  auto published = Publish((*cluster)->broadcaster_address(),
                           MakeEvents("health/test", "health.test", 1));
  ASSERT_TRUE(published.ok()) << published.status();
  ASSERT_TRUE(watch.WaitFor(HealthCheckResponse::NOT_SERVING))
      << watch.Seen() << "\n"
      << (*cluster)->Log("bridge");
  auto check = [&](const std::string& service) {
    auto status = Check(bridge, service);
    EXPECT_TRUE(status.ok()) << service << ": " << status.status();
    return status.value_or(HealthCheckResponse::UNKNOWN);
  };
  EXPECT_EQ(check(kBridgeService), HealthCheckResponse::NOT_SERVING);
  // The process is up: the overall status, and every other service of it.
  EXPECT_EQ(check(""), HealthCheckResponse::SERVING);
  EXPECT_EQ(check("switchboard.v1.Admin"), HealthCheckResponse::SERVING);

  absl::Status restarted = SharedRabbitMq().Restart();
  ASSERT_TRUE(restarted.ok()) << restarted;
  ASSERT_TRUE(watch.WaitFor(HealthCheckResponse::SERVING))
      << watch.Seen() << "\n"
      << (*cluster)->Log("bridge");
  // The event held meanwhile went through.
  EXPECT_TRUE((*cluster)->AwaitDepth("health.verbose", 1));
}

// On SIGTERM a service says NOT_SERVING before it stops, so that probes
// and load balancers stop sending it work while it drains.
TEST(HealthEndToEndTest, AServiceReportsNotServingAsItShutsDown) {
  auto cluster = Cluster::Start({});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  Watch overall((*cluster)->consumer_address(), "");
  ASSERT_TRUE(overall.WaitFor(HealthCheckResponse::SERVING));
  (*cluster)->consumer().Signal(SIGTERM);
  EXPECT_TRUE(overall.WaitFor(HealthCheckResponse::NOT_SERVING))
      << overall.Seen();
  EXPECT_EQ((*cluster)->consumer().Wait(kWait), 0);
}

}  // namespace
}  // namespace switchboard::testing
