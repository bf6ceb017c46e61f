#include "services/common/auth_policy.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

absl::StatusOr<AuthSettings> Parse(const std::string& yaml) {
  auto node = ConfigNode::Parse(yaml, "x.yaml");
  EXPECT_TRUE(node.ok()) << node.status();
  return AuthSettings::Parse(*node);
}

const std::string kTokenHash = Sha256Hex("s3cret-token");

TEST(AuthPolicyTest, Sha256HexIsTheStandardDigest) {
  EXPECT_EQ(Sha256Hex("test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
}

TEST(AuthPolicyTest, AbsentMeansOff) {
  auto s = Parse("listen: 127.0.0.1:0\n");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE(s->required);
}

TEST(AuthPolicyTest, ErrorsNameTheFieldAndNeverTheToken) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"auth:\n  mode: strict\n", "auth.mode: expected none or required"},
      {"auth:\n  mode: required\n", "auth.identities: mode: required with no"},
      {"auth:\n  identities:\n    k:\n      read: true\n",
       "auth.identities.k.certificate: set certificate, token_sha256"},
      {"auth:\n  unix_socket_identity: local\n  identities:\n    k:\n"
       "      certificate: c\n",
       "auth.unix_socket_identity: 'local' is not one of auth.identities"},
      {"auth:\n  identities:\n    k:\n      token_sha256: s3cret-token\n",
       "auth.identities.k.token_sha256: must be 64 hex digits"},
      {"auth:\n  identities:\n    k:\n      certificate: c\n      publish:\n"
       "        sources: ['(']\n",
       "auth.identities.k.publish.sources: pattern '(' is not valid RE2"},
      {"auth:\n  identities:\n    k:\n      certificate: c\n      "
       "publsh: {}\n",
       "publsh"},
      {"auth:\n  identities:\n    a:\n      token_sha256: " + kTokenHash +
           "\n    b:\n      token_sha256: " + kTokenHash + "\n",
       "auth.identities.b.token_sha256: is the same as identity 'a'"},
  };
  for (const auto& [yaml, expected] : cases) {
    auto s = Parse(yaml);
    ASSERT_FALSE(s.ok()) << yaml;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(s.status().message(),
                AllOf(HasSubstr(expected), Not(HasSubstr("s3cret-token"))))
        << yaml;
  }
}

TEST(AuthPolicyTest, PublishPermissionsAreCheckedPerEvent) {
  auto s = Parse(
      "auth:\n  mode: required\n  identities:\n    kytos:\n"
      "      certificate: spiffe://switchboard/kytos\n"
      "      publish:\n        sources: ['kytos/.*']\n        types: ['.*']\n"
      "      commands:\n        switches: ['s[12]']\n"
      "        regions: ['a']\n"
      "      speaker_regions: ['a']\n");
  ASSERT_TRUE(s.ok()) << s.status();
  AuthPolicy policy(*s);
  const Identity& kytos = *s->identities[0];
  switchboard::v1::Event e;
  e.set_source("kytos/topology");
  e.set_type("t");
  EXPECT_TRUE(AuthorizePublish(policy, &kytos, e, "").ok());
  EXPECT_TRUE(AuthorizePublish(policy, nullptr, e, "b").ok()) << "auth off";
  EXPECT_TRUE(AuthorizePublish(policy, &kytos, e, "a").ok());
  absl::Status region = AuthorizePublish(policy, &kytos, e, "b");
  EXPECT_EQ(region.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(region.message(), "identity 'kytos' may not speak for region 'b'");

  e.set_source("kytos");  // the whole value must match
  EXPECT_THAT(AuthorizePublish(policy, &kytos, e, "").message(),
              HasSubstr("may not publish as source 'kytos'"));
  e.set_source("kytos/of_core");
  e.mutable_command()->add_target_switches("s1");
  EXPECT_TRUE(AuthorizePublish(policy, &kytos, e, "").ok());
  e.mutable_command()->add_target_switches("s3");
  EXPECT_THAT(AuthorizePublish(policy, &kytos, e, "").message(),
              HasSubstr("may not send commands to switch 's3'"));
  e.mutable_command()->clear_target_switches();
  e.mutable_command()->set_broadcast(true);
  EXPECT_THAT(AuthorizePublish(policy, &kytos, e, "").message(),
              HasSubstr("may not broadcast commands"));
  EXPECT_TRUE(AuthorizeCommandRegion(policy, &kytos, "a").ok());
  EXPECT_EQ(AuthorizeCommandRegion(policy, &kytos, "b").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(policy.denied(), 5u);
}

}  // namespace
}  // namespace switchboard
