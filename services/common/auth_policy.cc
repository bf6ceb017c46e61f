#include "services/common/auth_policy.h"

#include <grp.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pwd.h>

#include <grpc/grpc_security_constants.h>

#include <algorithm>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/common/logging.h"
#include "services/common/status_macros.h"
#include "services/common/unix_peers.h"

namespace switchboard {
namespace {

constexpr absl::string_view kBearer = "Bearer ";

absl::Status ParsePatterns(const ConfigNode& node, absl::string_view key,
                           PatternList* out) {
  std::vector<std::string> patterns;
  SB_RETURN_IF_ERROR(node.Get(key, &patterns));
  SB_ASSIGN_OR_RETURN(*out, PatternList::Compile(patterns, node, key));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const Identity>> ParseIdentity(
    const ConfigNode& identities, const std::string& name) {
  auto id = std::make_shared<Identity>();
  id->name = name;
  SB_ASSIGN_OR_RETURN(ConfigNode node, identities.Child(name));
  SB_ASSIGN_OR_RETURN(ConfigNode publish, node.Child("publish"));
  SB_ASSIGN_OR_RETURN(ConfigNode commands, node.Child("commands"));
  SB_RETURN_IF_ERROR(node.Get("certificate", &id->certificate));
  SB_RETURN_IF_ERROR(node.Get("token_sha256", &id->token_sha256));
  SB_RETURN_IF_ERROR(ParsePatterns(publish, "sources", &id->publish_sources));
  SB_RETURN_IF_ERROR(ParsePatterns(publish, "types", &id->publish_types));
  SB_RETURN_IF_ERROR(
      ParsePatterns(commands, "switches", &id->command_switches));
  SB_RETURN_IF_ERROR(ParsePatterns(commands, "regions", &id->command_regions));
  SB_RETURN_IF_ERROR(commands.Get("broadcast", &id->command_broadcast));
  SB_RETURN_IF_ERROR(
      ParsePatterns(node, "speaker_regions", &id->speaker_regions));
  SB_RETURN_IF_ERROR(ParsePatterns(node, "subscribe", &id->subscribe));
  SB_RETURN_IF_ERROR(node.Get("read", &id->read));
  SB_RETURN_IF_ERROR(node.Get("admin", &id->admin));
  SB_RETURN_IF_ERROR(node.Get("bridge", &id->bridge));
  std::vector<std::string> users, groups;
  SB_RETURN_IF_ERROR(node.Get("unix_users", &users));
  SB_RETURN_IF_ERROR(node.Get("unix_groups", &groups));
  for (size_t i = 0; i < users.size(); ++i) {
    uint32_t uid = 0;
    if (!absl::SimpleAtoi(users[i], &uid)) {
      const passwd* pw = getpwnam(users[i].c_str());
      if (pw == nullptr) {
        return node.Error(absl::StrCat("unix_users[", i, "]"),
                          absl::StrCat("no user '", users[i], "' here"));
      }
      uid = pw->pw_uid;
    }
    id->unix_uids.push_back(uid);
  }
  for (size_t i = 0; i < groups.size(); ++i) {
    uint32_t gid = 0;
    if (!absl::SimpleAtoi(groups[i], &gid)) {
      const group* gr = getgrnam(groups[i].c_str());
      if (gr == nullptr) {
        return node.Error(absl::StrCat("unix_groups[", i, "]"),
                          absl::StrCat("no group '", groups[i], "' here"));
      }
      gid = gr->gr_gid;
    }
    id->unix_gids.push_back(gid);
  }
  SB_RETURN_IF_ERROR(publish.CheckAllKeysKnown());
  SB_RETURN_IF_ERROR(commands.CheckAllKeysKnown());
  SB_RETURN_IF_ERROR(node.CheckAllKeysKnown());
  if (!id->token_sha256.empty()) {
    id->token_sha256 = absl::AsciiStrToLower(id->token_sha256);
    if (id->token_sha256.size() != 64 ||
        !std::all_of(id->token_sha256.begin(), id->token_sha256.end(),
                     [](char c) { return absl::ascii_isxdigit(c); })) {
      return node.Error("token_sha256",
                        "must be 64 hex digits: the SHA-256 of the token "
                        "(e.g. `printf %s \"$TOKEN\" | sha256sum`), never "
                        "the token itself");
    }
  }
  return std::shared_ptr<const Identity>(std::move(id));
}

// The names a verified client certificate goes by, most specific first:
// its URI SANs, else its DNS SANs, else its CN.
std::vector<std::string> CertificateNames(const grpc::AuthContext& auth) {
  for (const char* property :
       {GRPC_PEER_URI_PROPERTY_NAME, GRPC_PEER_DNS_PROPERTY_NAME,
        GRPC_X509_CN_PROPERTY_NAME}) {
    std::vector<std::string> names;
    for (const grpc::string_ref& v : auth.FindPropertyValues(property)) {
      names.emplace_back(v.data(), v.size());
    }
    if (!names.empty()) return names;
  }
  return {};
}

// A value a producer chose, as a refusal shows it: escaped, and cut short.
std::string Shown(absl::string_view value) {
  constexpr size_t kMax = 100;
  std::string shown = absl::CHexEscape(value.substr(0, kMax));
  if (value.size() > kMax) absl::StrAppend(&shown, "...");
  return shown;
}

bool ConstantTimeEqual(absl::string_view a, absl::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

absl::StatusOr<PatternList> PatternList::Compile(
    const std::vector<std::string>& patterns, const ConfigNode& node,
    absl::string_view field) {
  PatternList list;
  for (const std::string& p : patterns) {
    auto re = std::make_shared<const RE2>(p, RE2::Quiet);
    if (!re->ok()) {
      return node.Error(field, absl::StrCat("pattern '", p,
                                            "' is not valid RE2: ",
                                            re->error()));
    }
    list.patterns_.push_back(std::move(re));
  }
  return list;
}

bool PatternList::Matches(absl::string_view value) const {
  for (const auto& re : patterns_) {
    if (RE2::FullMatch(re2::StringPiece(value.data(), value.size()), *re)) {
      return true;
    }
  }
  return false;
}

absl::StatusOr<AuthSettings> AuthSettings::Parse(const ConfigNode& root) {
  AuthSettings s;
  SB_ASSIGN_OR_RETURN(ConfigNode node, root.Child("auth"));
  std::string mode = "none";
  SB_RETURN_IF_ERROR(node.Get("mode", &mode));
  SB_ASSIGN_OR_RETURN(ConfigNode identities, node.Child("identities"));
  std::string unix_identity;
  SB_RETURN_IF_ERROR(node.Get("unix_socket_identity", &unix_identity));
  SB_RETURN_IF_ERROR(node.CheckAllKeysKnown());
  if (mode == "required") {
    s.required = true;
  } else if (mode != "none") {
    return node.Error("mode",
                      absl::StrCat("expected none or required, got '", mode,
                                   "'"));
  }
  absl::flat_hash_map<std::string, std::string> tokens;  // hash -> name
  absl::flat_hash_map<std::string, std::string> certificates;  // -> name
  for (const std::string& name : identities.Keys()) {
    SB_ASSIGN_OR_RETURN(std::shared_ptr<const Identity> id,
                        ParseIdentity(identities, name));
    if (!id->token_sha256.empty()) {
      auto [it, inserted] = tokens.emplace(id->token_sha256, name);
      if (!inserted) {
        return identities.Error(
            absl::StrCat(name, ".token_sha256"),
            absl::StrCat("is the same as identity '", it->second,
                         "'s: a token must name one identity"));
      }
    }
    if (!id->certificate.empty()) {
      auto [it, inserted] = certificates.emplace(id->certificate, name);
      if (!inserted) {
        return identities.Error(
            absl::StrCat(name, ".certificate"),
            absl::StrCat("is the same as identity '", it->second,
                         "'s: a certificate must name one identity"));
      }
    }
    s.identities.push_back(std::move(id));
  }
  if (!unix_identity.empty()) {
    for (const auto& id : s.identities) {
      if (id->name == unix_identity) s.unix_socket_identity = id;
    }
    if (s.unix_socket_identity == nullptr) {
      return node.Error("unix_socket_identity",
                        absl::StrCat("'", unix_identity,
                                     "' is not one of auth.identities"));
    }
  }
  for (const auto& id : s.identities) {
    if (id->certificate.empty() && id->token_sha256.empty() &&
        id->unix_uids.empty() && id->unix_gids.empty() &&
        id != s.unix_socket_identity) {
      return identities.Error(
          absl::StrCat(id->name, ".certificate"),
          "set certificate, token_sha256, unix_users or unix_groups (or "
          "name this identity in auth.unix_socket_identity): nothing else "
          "can prove it");
    }
  }
  if (s.required && s.identities.empty()) {
    return node.Error("identities",
                      "mode: required with no identities would refuse every "
                      "client; add at least one");
  }
  return s;
}

std::string Sha256Hex(absl::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), size));
}

AuthPolicy::AuthPolicy(AuthSettings settings)
    : settings_(std::make_shared<const AuthSettings>(std::move(settings))) {}

void AuthPolicy::Update(AuthSettings settings) {
  auto next = std::make_shared<const AuthSettings>(std::move(settings));
  absl::MutexLock lock(&mu_);
  settings_ = std::move(next);
  ++generation_;
}

bool AuthPolicy::required() const {
  absl::MutexLock lock(&mu_);
  return settings_->required;
}

absl::Status AuthPolicy::Refuse(absl::Status status) {
  if (absl::IsUnauthenticated(status)) {
    ++unauthenticated_;
  } else {
    ++denied_;
  }
  const absl::Time now = absl::Now();
  uint64_t suppressed = 0;
  {
    absl::MutexLock lock(&log_mu_);
    if (now - last_log_ < absl::Seconds(1)) {
      ++suppressed_;
      return status;
    }
    last_log_ = now;
    suppressed = suppressed_;
    suppressed_ = 0;
  }
  Logger("auth")->warn("refused: {}{}", status.ToString(),
                       suppressed > 0
                           ? absl::StrCat(" (and ", suppressed,
                                          " more refusals in the last second)")
                           : std::string());
  return status;
}

absl::StatusOr<std::shared_ptr<const Identity>> AuthPolicy::Authenticate(
    const grpc::ServerContextBase& context) {
  std::shared_ptr<const AuthSettings> settings;
  {
    absl::MutexLock lock(&mu_);
    settings = settings_;
  }
  if (!settings->required) return std::shared_ptr<const Identity>();
  const auto& metadata = context.client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    const absl::string_view header(it->second.data(), it->second.size());
    if (!absl::StartsWithIgnoreCase(header, kBearer)) {
      return Refuse(absl::UnauthenticatedError(
          "the authorization header is not 'Bearer <token>'"));
    }
    const std::string hash = Sha256Hex(header.substr(kBearer.size()));
    std::shared_ptr<const Identity> found;
    // Every identity is compared, so the time taken says nothing of which
    // (or whether one) matched.
    for (const auto& id : settings->identities) {
      if (ConstantTimeEqual(hash, id->token_sha256)) found = id;
    }
    if (found != nullptr) return found;
    return Refuse(absl::UnauthenticatedError(
        "the bearer token matches no identity"));
  }
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  const std::vector<std::string> names =
      auth != nullptr && auth->IsPeerAuthenticated() ? CertificateNames(*auth)
                                                     : std::vector<std::string>();
  if (names.empty()) {
    if (std::optional<UnixPeer> peer = UnixPeers::Global().Find(context.peer())) {
      for (const auto& id : settings->identities) {
        if (absl::c_linear_search(id->unix_uids, peer->uid) ||
            absl::c_linear_search(id->unix_gids, peer->gid)) {
          return id;
        }
      }
      if (settings->unix_socket_identity != nullptr) {
        return settings->unix_socket_identity;
      }
      return Refuse(absl::UnauthenticatedError(absl::StrCat(
          "unix socket peer uid ", peer->uid, " gid ", peer->gid,
          " matches no identity (unix_users, unix_groups)")));
    }
  }
  if (names.empty() && settings->unix_socket_identity != nullptr &&
      absl::StartsWith(context.peer(), "unix:")) {
    return settings->unix_socket_identity;
  }
  if (names.empty()) {
    return Refuse(absl::UnauthenticatedError(
        "no credentials: present a client certificate (TLS with "
        "tls.client_ca_file) or an 'authorization: Bearer <token>' header"));
  }
  for (const auto& id : settings->identities) {
    if (id->certificate.empty()) continue;
    for (const std::string& name : names) {
      if (name == id->certificate) return id;
    }
  }
  return Refuse(absl::UnauthenticatedError(
      absl::StrCat("the client certificate (", absl::StrJoin(names, ", "),
                   ") matches no identity")));
}

absl::StatusOr<std::shared_ptr<const Identity>> AuthPolicy::Authorize(
    const grpc::ServerContextBase& context, Action action) {
  SB_ASSIGN_OR_RETURN(std::shared_ptr<const Identity> who,
                      Authenticate(context));
  if (who == nullptr) return who;
  switch (action) {
    case Action::kRead:
      if (!who->read) return Deny(*who, "read (stats, queues, regions, links)");
      break;
    case Action::kAdmin:
      if (!who->admin) return Deny(*who, "administer (Admin/Reload)");
      break;
    case Action::kBridge:
      if (!who->bridge) return Deny(*who, "use the bridge (Produce, Consume)");
      break;
  }
  return who;
}

absl::Status AuthPolicy::Deny(const Identity& who, absl::string_view what) {
  return Refuse(absl::PermissionDeniedError(
      absl::StrCat("identity '", who.name, "' may not ", what)));
}

absl::Status CheckAccess(AuthPolicy* policy,
                         const grpc::ServerContextBase& context,
                         Action action) {
  if (policy == nullptr) return absl::OkStatus();
  return policy->Authorize(context, action).status();
}

absl::Status AuthorizePublish(AuthPolicy& policy, const Identity* who,
                              const switchboard::v1::Event& event,
                              absl::string_view speaks_for_region) {
  if (who == nullptr) return absl::OkStatus();
  if (!who->publish_sources.Matches(event.source())) {
    return policy.Deny(
        *who, absl::StrCat("publish as source '", Shown(event.source()), "'"));
  }
  if (!who->publish_types.Matches(event.type())) {
    return policy.Deny(*who,
                       absl::StrCat("publish events of type '",
                                    Shown(event.type()), "'"));
  }
  if (!speaks_for_region.empty() &&
      !who->speaker_regions.Matches(speaks_for_region)) {
    return policy.Deny(*who, absl::StrCat("speak for region '",
                                          Shown(speaks_for_region), "'"));
  }
  if (event.has_command()) {
    const switchboard::v1::Command& command = event.command();
    if (command.broadcast() && !who->command_broadcast) {
      return policy.Deny(*who, "broadcast commands (commands.broadcast)");
    }
    for (const std::string& sw : command.target_switches()) {
      if (!who->command_switches.Matches(sw)) {
        return policy.Deny(*who, absl::StrCat("send commands to switch '",
                                              Shown(sw), "'"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status AuthorizeCommandRegion(AuthPolicy& policy, const Identity* who,
                                    absl::string_view region) {
  if (who == nullptr || who->command_regions.Matches(region)) {
    return absl::OkStatus();
  }
  return policy.Deny(
      *who, absl::StrCat("send commands to region '", Shown(region), "'"));
}

}  // namespace switchboard
