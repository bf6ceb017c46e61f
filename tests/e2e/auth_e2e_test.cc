// Identities and permissions through the three real binaries. Producers,
// speakers, apps and an operator prove who they are with bearer tokens; the
// broadcaster and the consumer prove it to the bridge with their client
// certificate (mutual TLS). Each allowed operation works; each denied one
// gets PERMISSION_DENIED (or UNAUTHENTICATED) naming the identity and the
// action, and nothing of it is routed.
#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/common/auth_policy.h"
#include "switchboard/v1/bridge.grpc.pb.h"
#include "switchboard/v1/broadcaster.grpc.pb.h"
#include "tests/testing/cluster.h"
#include "tests/testing/process.h"
#include "tests/testing/test_pki.h"

namespace switchboard::testing {
namespace {

using switchboard::v1::Event;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kKytos[] = "kytos-token-0123";
constexpr char kSpeakerA[] = "speaker-a-token-4567";
constexpr char kSpeakerB[] = "speaker-b-token-89ab";
constexpr char kApp[] = "app-token-cdef";
constexpr char kOperator[] = "operator-token-0000";

std::string Token(const char* token) {
  return absl::StrCat("        token_sha256: ", Sha256Hex(token), "\n");
}

// The identities, as each service's `auth` section lists them.
std::string AuthYaml(const std::string& identities) {
  return absl::StrCat("auth:\n  mode: required\n  identities:\n", identities);
}

const std::string kOperatorIdentity =
    absl::StrCat("    operator:\n", Token(kOperator), "        read: true\n",
                 "        admin: true\n");

Event SwitchConnected(const std::string& region, const std::string& sw) {
  Event e;
  e.set_source("speaker/" + region);
  e.set_type("speaker.switch.connected");
  e.set_subject(sw);
  auto* status = e.mutable_switch_status();
  status->set_switch_id(sw);
  status->set_change(switchboard::v1::SwitchStatus::CONNECTED);
  status->set_region(region);
  status->set_ip("192.0.2.1");
  status->set_mode(switchboard::v1::RW);
  return e;
}

Event Command(const std::string& target) {
  Event e;
  e.set_source("kytos/flow_manager");
  e.set_type("kytos/flow_manager.command");
  e.mutable_command()->set_name("install_flow");
  e.mutable_command()->add_target_switches(target);
  return e;
}

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pki = MakeTestPki(NewTempDir("pki"), "switchboard");
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = *pki;
    Cluster::Options options;
    options.bridge_yaml += absl::StrCat(
        pki_.ServerTlsYaml(),
        AuthYaml(absl::StrCat(
            "    switchboard:\n",
            "        certificate: spiffe://switchboard/switchboard\n",
            "        bridge: true\n", "    speaker-x:\n",
            "        certificate: spiffe://switchboard/speaker-x\n",
            kOperatorIdentity)));
    const std::string bridge_tls = pki_.BridgeTlsYaml();
    broadcaster_auth_ = AuthYaml(absl::StrCat(
        "    kytos:\n", Token(kKytos),
        "        publish: {sources: ['kytos/.*'], types: ['.*']}\n",
        "        commands: {switches: ['.*'], regions: ['a']}\n",
        "        read: true\n", "    speaker-a:\n", Token(kSpeakerA),
        "        publish: {sources: ['speaker/a'], types: ['.*']}\n",
        "        speaker_regions: ['a']\n", "    speaker-b:\n",
        Token(kSpeakerB),
        "        publish: {sources: ['speaker/b'], types: ['.*']}\n",
        "        speaker_regions: ['b']\n", "    app:\n", Token(kApp),
        kOperatorIdentity));
    options.broadcaster_yaml += absl::StrCat(bridge_tls, broadcaster_auth_);
    broadcaster_yaml_ = options.broadcaster_yaml;
    options.consumer_yaml += absl::StrCat(
        bridge_tls,
        AuthYaml(absl::StrCat(
            "    kytos:\n", Token(kKytos), "        read: true\n",
            "    speaker-a:\n", Token(kSpeakerA),
            "        subscribe: ['region\\.a']\n", "    app:\n", Token(kApp),
            "        subscribe: ['app\\.kytos\\..*']\n", kOperatorIdentity)));
    auto cluster = Cluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
  }

  // Publishes one batch as `token`; the single answer.
  switchboard::v1::PublishResponse PublishAs(const char* token,
                                             std::vector<Event> events) {
    auto answers =
        Publish(cluster_->broadcaster_address(), std::move(events), 100, token);
    EXPECT_TRUE(answers.ok()) << answers.status();
    EXPECT_EQ(answers.ok() ? answers->size() : 0, 1u);
    return answers.ok() && !answers->empty()
               ? (*answers)[0]
               : switchboard::v1::PublishResponse();
  }

  absl::StatusOr<std::unique_ptr<Subscriber>> SubscribeAs(
      const std::string& token, const std::string& queue) {
    switchboard::v1::SubscribeOpen open;
    open.add_queues(queue);
    open.set_credit(10);
    auto sub = Subscriber::Open(cluster_->consumer_address(), open,
                                /*auto_ack=*/true, token);
    return sub;
  }

  // The queue's depth as `kytos` (who may read) sees it; -1 if not listed.
  int64_t Depth(const std::string& queue) {
    auto list = ListQueues(cluster_->consumer_address(), kKytos);
    EXPECT_TRUE(list.ok()) << list.status();
    if (!list.ok()) return -2;
    for (const auto& q : list->queues()) {
      if (q.name() == queue) return static_cast<int64_t>(q.depth());
    }
    return -1;
  }

  TestPki pki_;
  std::unique_ptr<Cluster> cluster_;
  std::string broadcaster_auth_;  // its `auth` section
  std::string broadcaster_yaml_;  // the whole config, as started
};

TEST_F(AuthTest, APublisherPublishesAsItsOwnSourcesOnly) {
  std::vector<Event> batch = MakeEvents("kytos/topology", "t", 3);
  batch[1].set_source("sdx/app");  // another app's source
  const auto answer = PublishAs(kKytos, batch);
  EXPECT_EQ(answer.accepted(), 2u);
  ASSERT_EQ(answer.rejections_size(), 1);
  EXPECT_EQ(answer.rejections(0).index(), 1u);
  EXPECT_EQ(answer.rejections(0).code(),
            static_cast<int>(grpc::PERMISSION_DENIED));
  EXPECT_THAT(
      answer.rejections(0).reason(),
      HasSubstr("identity 'kytos' may not publish as source 'sdx/app'"));

  auto app = SubscribeAs(kApp, "app.kytos.topology");
  ASSERT_TRUE(app.ok()) << app.status();
  EXPECT_EQ((*app)->WaitFor(2).size(), 2u);
  EXPECT_EQ(Depth("app.sdx.app"), -1) << "the denied event was routed";
  // A speaker's identity cannot publish an app's events either.
  EXPECT_EQ(PublishAs(kSpeakerA, MakeEvents("kytos/topology", "t", 1))
                .rejections(0)
                .code(),
            static_cast<int>(grpc::PERMISSION_DENIED));
}

TEST_F(AuthTest, SpeakersSpeakForTheirRegionAndCommandsReachPermittedOnes) {
  EXPECT_EQ(PublishAs(kSpeakerA, {SwitchConnected("a", "s1")}).accepted(), 1u);
  // Speaker a announcing a switch for region b (with b's source, too).
  Event forged = SwitchConnected("b", "s2");
  forged.set_source("speaker/a");
  const auto refused = PublishAs(kSpeakerA, {forged});
  ASSERT_EQ(refused.rejections_size(), 1);
  EXPECT_THAT(refused.rejections(0).reason(),
              HasSubstr("identity 'speaker-a' may not speak for region 'b'"));
  EXPECT_EQ(PublishAs(kSpeakerB, {SwitchConnected("b", "s2")}).accepted(), 1u);

  // kytos may command region a, not b. (region.b holds the broadcaster's
  // own dump request, sent when region b was first heard.)
  ASSERT_TRUE(Eventually([&] { return Depth("region.b") == 1; }));
  EXPECT_EQ(PublishAs(kKytos, {Command("s1")}).accepted(), 1u);
  const auto to_b = PublishAs(kKytos, {Command("s2")});
  ASSERT_EQ(to_b.rejections_size(), 1);
  EXPECT_EQ(to_b.rejections(0).code(),
            static_cast<int>(grpc::PERMISSION_DENIED));
  EXPECT_THAT(
      to_b.rejections(0).reason(),
      HasSubstr("identity 'kytos' may not send commands to region 'b'"));

  // Speaker a reads its region's queue: the one command, nothing of b's.
  auto speaker = SubscribeAs(kSpeakerA, "region.a");
  ASSERT_TRUE(speaker.ok()) << speaker.status();
  // The dump request sent when region a was first heard, then the command.
  auto got = (*speaker)->WaitFor(2);
  ASSERT_GE(got.size(), 2u);
  bool command_seen = false;
  for (const auto& d : got) command_seen |= d.event().has_command();
  EXPECT_TRUE(command_seen);
  EXPECT_EQ(Depth("region.b"), 1) << "the denied command reached region b";
  auto other = SubscribeAs(kSpeakerA, "region.b");
  ASSERT_TRUE(other.ok()) << other.status();
  const grpc::Status status = (*other)->Wait();
  EXPECT_EQ(status.error_code(), grpc::PERMISSION_DENIED);
  EXPECT_THAT(status.error_message(),
              HasSubstr("identity 'speaker-a' may not subscribe to queue "
                        "'region.b'"));
  auto stats = GetBroadcasterStats(cluster_->broadcaster_address(), kKytos);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->commands_routed(), 1u);
}

TEST_F(AuthTest, ReadsAdminAndCredentials) {
  const std::string broadcaster = cluster_->broadcaster_address();
  const std::string consumer = cluster_->consumer_address();
  EXPECT_TRUE(GetBroadcasterStats(broadcaster, kKytos).ok());
  EXPECT_TRUE(ListQueues(consumer, kKytos).ok());
  EXPECT_TRUE(ReloadSettings(broadcaster, kOperator).ok());
  // Allowed; the consumer has no reloadable settings.
  EXPECT_TRUE(
      absl::IsUnimplemented(ReloadSettings(consumer, kOperator).status()));

  struct Refused {
    absl::Status status;
    absl::StatusCode code;
    std::string message;
  };
  const std::vector<Refused> refused = {
      {GetBroadcasterStats(broadcaster, kApp).status(),
       absl::StatusCode::kPermissionDenied, "identity 'app' may not read"},
      {ListQueues(consumer, kApp).status(), absl::StatusCode::kPermissionDenied,
       "identity 'app' may not read"},
      {ReloadSettings(broadcaster, kKytos).status(),
       absl::StatusCode::kPermissionDenied,
       "identity 'kytos' may not administer"},
      {ReloadSettings(consumer, kApp).status(),
       absl::StatusCode::kPermissionDenied,
       "identity 'app' may not administer"},
      {ReloadSettings(cluster_->bridge_address(), kApp).status(),
       absl::StatusCode::kUnavailable, ""},  // no client certificate
      {GetBroadcasterStats(broadcaster).status(),
       absl::StatusCode::kUnauthenticated, "no credentials"},
      {GetBroadcasterStats(broadcaster, "not-a-token").status(),
       absl::StatusCode::kUnauthenticated,
       "the bearer token matches no identity"},
      {Publish(broadcaster, MakeEvents("kytos/topology", "t", 1)).status(),
       absl::StatusCode::kUnauthenticated, "no credentials"},
  };
  for (size_t i = 0; i < refused.size(); ++i) {
    EXPECT_EQ(refused[i].status.code(), refused[i].code)
        << i << ": " << refused[i].status;
    EXPECT_THAT(refused[i].status.message(), HasSubstr(refused[i].message))
        << i;
    EXPECT_THAT(refused[i].status.message(), Not(HasSubstr("token-")))
        << "a refusal quotes a token";
  }
  auto unauthenticated = SubscribeAs("", "app.kytos.topology");
  if (unauthenticated.ok()) {
    EXPECT_EQ((*unauthenticated)->Wait().error_code(), grpc::UNAUTHENTICATED);
  } else {
    EXPECT_TRUE(absl::IsUnauthenticated(unauthenticated.status()))
        << unauthenticated.status();
  }
  EXPECT_THAT(cluster_->Log("broadcaster"), HasSubstr("[auth] refused:"));
  EXPECT_THAT(cluster_->Log("broadcaster"), Not(HasSubstr(kKytos)));
}

// An outside client trying identities and sources at random (seeded) gets
// exactly what the permissions allow: each answer matches what the policy,
// read from the same settings, decides; queues hold only allowed events.
TEST_F(AuthTest, RandomIdentitiesAndForgedSourcesGetOnlyWhatIsAllowed) {
  const uint64_t seed = absl::Uniform<uint64_t>(absl::BitGen());
  SCOPED_TRACE(absl::StrCat("seed ", seed));
  std::mt19937_64 random(seed);
  const std::vector<const char*> tokens = {
      kKytos, kSpeakerA, kSpeakerB, kApp, kOperator, "forged-token", ""};
  const std::vector<std::string> sources = {"kytos/topology", "kytos/of_core",
                                            "sdx/app",        "speaker/a",
                                            "speaker/b",      "evil/x"};
  auto settings = AuthSettings::Parse(*ConfigNode::Parse(
      ReadFile((*cluster_).dir() + "/broadcaster.yaml"), "broadcaster.yaml"));
  ASSERT_TRUE(settings.ok()) << settings.status();
  AuthPolicy oracle(*settings);
  auto identity_of = [&](const std::string& token) -> const Identity* {
    for (const auto& id : settings->identities) {
      if (!token.empty() && id->token_sha256 == Sha256Hex(token)) {
        return id.get();
      }
    }
    return nullptr;
  };
  std::map<std::string, int> expected;  // app queue -> events
  int accepted_total = 0;
  for (int i = 0; i < 60; ++i) {
    const std::string token = tokens[random() % tokens.size()];
    std::vector<Event> batch;
    for (int j = 0; j < 5; ++j) {
      Event e = MakeEvents(sources[random() % sources.size()], "t", 1)[0];
      e.set_id(absl::StrCat("rnd-", i, "-", j));
      batch.push_back(std::move(e));
    }
    const Identity* who = identity_of(token);
    auto answers = Publish(cluster_->broadcaster_address(), batch, 100, token);
    if (who == nullptr) {
      EXPECT_TRUE(absl::IsUnauthenticated(answers.status()))
          << "token '" << token << "': " << answers.status();
      continue;
    }
    ASSERT_TRUE(answers.ok()) << answers.status();
    const auto& answer = (*answers)[0];
    std::set<uint32_t> rejected;
    for (const auto& r : answer.rejections()) {
      EXPECT_EQ(r.code(), static_cast<int>(grpc::PERMISSION_DENIED))
          << r.reason();
      rejected.insert(r.index());
    }
    for (size_t j = 0; j < batch.size(); ++j) {
      const bool allowed = AuthorizePublish(oracle, who, batch[j], "").ok();
      EXPECT_EQ(rejected.count(j) == 0, allowed)
          << who->name << " publishing as " << batch[j].source();
      if (allowed) {
        ++expected[absl::StrCat(
            "app.", absl::StrReplaceAll(batch[j].source(), {{"/", "."}}))];
        ++accepted_total;
      }
    }
  }
  // The app queues hold exactly the allowed events (once forwarded).
  std::map<std::string, int> seen;
  EXPECT_TRUE(Eventually([&] {
    auto list = ListQueues(cluster_->consumer_address(), kKytos);
    if (!list.ok()) return false;
    seen.clear();
    for (const auto& q : list->queues()) {
      if (absl::StartsWith(q.name(), "app.")) seen[q.name()] = q.depth();
    }
    return seen == expected;
  }));
  EXPECT_EQ(seen, expected);
  EXPECT_GT(accepted_total, 0);
}

// A reload that takes an identity away reaches the streams it has open:
// their next batch ends the stream UNAUTHENTICATED.
TEST_F(AuthTest, AReloadReachesOpenPublishStreams) {
  auto stub = switchboard::v1::Broadcaster::NewStub(grpc::CreateChannel(
      cluster_->broadcaster_address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  AddToken(context, kKytos);
  auto stream = stub->Publish(&context);
  switchboard::v1::PublishRequest request;
  *request.add_events() = MakeEvents("kytos/topology", "t", 1)[0];
  ASSERT_TRUE(stream->Write(request));
  switchboard::v1::PublishResponse answer;
  ASSERT_TRUE(stream->Read(&answer));
  EXPECT_EQ(answer.accepted(), 1u);

  // kytos's token is gone from the settings.
  const std::string without_kytos = absl::StrReplaceAll(
      broadcaster_yaml_, {{absl::StrCat("    kytos:\n", Token(kKytos)),
                           "    kytos:\n        certificate: retired\n"}});
  ASSERT_NE(without_kytos, broadcaster_yaml_);
  cluster_->RewriteConfig("broadcaster", without_kytos);
  auto reloaded = ReloadSettings(cluster_->broadcaster_address(), kOperator);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();

  stream->Write(request);  // may fail once the stream has ended
  while (stream->Read(&answer)) {
    ADD_FAILURE() << "answered after the reload: " << answer.DebugString();
  }
  const grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::UNAUTHENTICATED)
      << status.error_message();
  EXPECT_THAT(status.error_message(),
              HasSubstr("the bearer token matches no identity"));
}

// switchboardctl, as an operator runs it: the token from --token_file, or
// from SWITCHBOARD_TOKEN.
TEST_F(AuthTest, SwitchboardctlSendsItsToken) {
  const std::string dir = cluster_->dir();
  const std::string token_file = absl::StrCat(dir, "/kytos.token");
  std::ofstream(token_file) << kKytos << "\n";
  auto run = [&](const std::vector<std::string>& extra, std::string* err) {
    std::vector<std::string> args = {
        "stats",
        absl::StrCat("--broadcaster=", cluster_->broadcaster_address())};
    args.insert(args.end(), extra.begin(), extra.end());
    Process::Options o;
    o.stdout_path = absl::StrCat(dir, "/ctl.out");
    o.stderr_path = absl::StrCat(dir, "/ctl.err");
    auto ctl =
        Process::Start(Runfile("tools/switchboardctl/switchboardctl"), args, o);
    EXPECT_TRUE(ctl.ok()) << ctl.status();
    if (!ctl.ok()) return -1;
    std::optional<int> code = (*ctl)->Wait(absl::Seconds(30));
    *err = ReadFile(o.stderr_path);
    return code.value_or(-1);
  };
  std::string err;
  EXPECT_EQ(run({"--token_file=" + token_file}, &err), 0) << err;
  EXPECT_EQ(run({}, &err), 1);
  EXPECT_THAT(err, HasSubstr("UNAUTHENTICATED"));
  setenv("SWITCHBOARD_TOKEN", kApp, 1);
  EXPECT_EQ(run({}, &err), 1);
  unsetenv("SWITCHBOARD_TOKEN");
  EXPECT_THAT(err, HasSubstr("PERMISSION_DENIED: identity 'app' may not read"));
  EXPECT_EQ(run({"--token_file=" + dir + "/missing"}, &err), 1);
  EXPECT_THAT(err, HasSubstr("--token_file: cannot read"));
}

// The bridge serves only the broadcaster's and the consumer's identity
// (its certificate): not an operator's token, not another identity's
// certificate, not a certificate of no identity, not an expired one.
TEST_F(AuthTest, TheBridgeServesOnlyItsClients) {
  const std::string dir = cluster_->dir();
  auto speaker = MakeClientCert(pki_.dir, "speaker-x");
  auto nobody = MakeClientCert(pki_.dir, "nobody");
  auto expired = MakeClientCert(pki_.dir, "expired", /*expired=*/true);
  ASSERT_TRUE(speaker.ok()) << speaker.status();
  ASSERT_TRUE(nobody.ok()) << nobody.status();
  ASSERT_TRUE(expired.ok()) << expired.status();
  auto ask = [&](const std::string& cert, const std::string& key,
                 const char* token) {
    ClientCredentials c;
    c.tls.ca_file = pki_.ca_cert;
    c.tls.cert_file = cert;
    c.tls.key_file = key;
    if (token != nullptr) c.token = token;
    return AskBridge(cluster_->bridge_address(), c);
  };
  EXPECT_TRUE(ask(pki_.client_cert, pki_.client_key, nullptr).ok());
  const grpc::Status as_operator =
      ask(pki_.client_cert, pki_.client_key, kOperator);
  EXPECT_EQ(as_operator.error_code(), grpc::PERMISSION_DENIED);
  EXPECT_THAT(as_operator.error_message(),
              HasSubstr("identity 'operator' may not use the bridge"));
  const grpc::Status as_speaker = ask(speaker->cert, speaker->key, nullptr);
  EXPECT_EQ(as_speaker.error_code(), grpc::PERMISSION_DENIED);
  EXPECT_THAT(as_speaker.error_message(),
              HasSubstr("identity 'speaker-x' may not use the bridge"));
  const grpc::Status as_nobody = ask(nobody->cert, nobody->key, nullptr);
  EXPECT_EQ(as_nobody.error_code(), grpc::UNAUTHENTICATED);
  EXPECT_THAT(as_nobody.error_message(),
              HasSubstr("the client certificate (spiffe://switchboard/nobody) "
                        "matches no identity"));
  // An expired certificate fails the handshake itself.
  EXPECT_EQ(ask(expired->cert, expired->key, nullptr).error_code(),
            grpc::UNAVAILABLE);
}

}  // namespace
}  // namespace switchboard::testing
