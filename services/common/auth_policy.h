#ifndef SWITCHBOARD_SERVICES_COMMON_AUTH_POLICY_H_
#define SWITCHBOARD_SERVICES_COMMON_AUTH_POLICY_H_

// Who a client is, and what it may do: the `auth` section that every
// service's config file shares (each service enforces the permissions of
// its own RPCs).
//
//   auth:
//     mode: required        # none (default): no identities, all allowed
//     identities:
//       kytos:              # the identity's name, used in errors and logs
//         certificate: spiffe://switchboard/kytos  # client certificate name
//         token_sha256: 9f86d081...  # SHA-256 (hex) of a bearer token
//         publish:
//           sources: ["kytos/.*"]    # event sources it may publish as
//           types: [".*"]            # event types it may publish
//         commands:
//           switches: ["00:00:.*"]   # switches its commands may target
//           regions: ["a", "b"]      # regions its commands may reach
//           broadcast: false         # commands to every region
//         speaker_regions: ["a"]     # regions it may speak for
//         subscribe: ["app\\.kytos\\..*"]  # queues it may consume
//         read: true                 # northbound reads (stats, queues,
//                                    # regions, link status)
//         admin: false               # Admin/Reload
//         bridge: false              # the bridge's Produce and Consume
//
// Patterns are RE2, matched against the whole value. Once `mode: required`
// every RPC but health checks and reflection needs an identity, and an
// identity may do only what it is given.
//
// Authentication, per call: an `authorization: Bearer <token>` header
// whose SHA-256 is some identity's token_sha256 (compared in constant
// time; a token that matches none is refused, never logged); else the
// client certificate verified by the listener's TLS (tls.client_ca_file):
// its URI SANs (spiffe://...), or if it has none its DNS SANs, or if it
// has none its CN, against each identity's `certificate`; else, for a call
// through a unix socket with `peer_credentials`, the identity whose
// unix_users or unix_groups hold the peer's uid or primary gid
// (SO_PEERCRED); else, for a call that came through the unix socket, the
// identity named by
// `auth.unix_socket_identity` (the socket's file mode and group decide who
// can connect at all). No credentials, or ones that match no identity:
// UNAUTHENTICATED.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "re2/re2.h"
#include "services/common/config.h"
#include "switchboard/v1/event.pb.h"

namespace switchboard {

// A list of RE2 patterns, each matched against a whole value.
class PatternList {
 public:
  PatternList() = default;
  // Errors name `field` and the pattern.
  static absl::StatusOr<PatternList> Compile(
      const std::vector<std::string>& patterns, const ConfigNode& node,
      absl::string_view field);
  bool Matches(absl::string_view value) const;
  bool empty() const { return patterns_.empty(); }

 private:
  std::vector<std::shared_ptr<const RE2>> patterns_;
};

// One identity: how it is recognised and what it may do.
struct Identity {
  std::string name;
  std::string certificate;
  std::string token_sha256;  // lower-case hex
  // Peers of a unix socket with peer_credentials: their uid, or their
  // primary gid, is one of these (`unix_users`, `unix_groups`: names or
  // numbers, resolved when the settings are read).
  std::vector<uint32_t> unix_uids;
  std::vector<uint32_t> unix_gids;
  PatternList publish_sources;
  PatternList publish_types;
  PatternList command_switches;
  PatternList command_regions;
  bool command_broadcast = false;
  PatternList speaker_regions;
  PatternList subscribe;
  bool read = false;
  bool admin = false;
  bool bridge = false;
};

// The `auth` section, validated.
struct AuthSettings {
  bool required = false;
  std::vector<std::shared_ptr<const Identity>> identities;
  // The identity of calls through the unix socket that bring no other
  // credentials; null: none.
  std::shared_ptr<const Identity> unix_socket_identity;

  // Reads `auth` of a service's config root; errors name the field
  // ("auth.identities.kytos.token_sha256: ...") and never quote a token.
  static absl::StatusOr<AuthSettings> Parse(const ConfigNode& root);
};

// The lower-case hex SHA-256 of `text` (what token_sha256 holds).
std::string Sha256Hex(absl::string_view text);

// What a call may do; a null caller (auth off) may do everything.
enum class Action { kRead, kAdmin, kBridge };

// A service's identities and permissions, shared by its RPC handlers.
// Thread-safe; Update swaps them (a reload) without disturbing calls in
// progress (they keep the Identity they authenticated with).
class AuthPolicy {
 public:
  explicit AuthPolicy(AuthSettings settings = AuthSettings());

  void Update(AuthSettings settings);
  bool required() const;
  // Bumped by every Update: long-lived streams authenticate again when it
  // moved.
  uint64_t generation() const { return generation_.load(); }

  // The caller's identity: null when auth is off (everything allowed),
  // UNAUTHENTICATED when credentials are missing or match no identity.
  // Counted and logged (rate-limited) when refused.
  absl::StatusOr<std::shared_ptr<const Identity>> Authenticate(
      const grpc::ServerContextBase& context);

  // Authenticate, then `action`: PERMISSION_DENIED naming the identity and
  // the action when it is not granted.
  absl::StatusOr<std::shared_ptr<const Identity>> Authorize(
      const grpc::ServerContextBase& context, Action action);

  // Builds (and counts, and logs rate-limited) PERMISSION_DENIED:
  // "identity 'x' may not <what>".
  absl::Status Deny(const Identity& who, absl::string_view what);

  // Refusals so far: UNAUTHENTICATED and PERMISSION_DENIED answers.
  uint64_t unauthenticated() const { return unauthenticated_.load(); }
  uint64_t denied() const { return denied_.load(); }

 private:
  absl::Status Refuse(absl::Status status);

  mutable absl::Mutex mu_;
  std::shared_ptr<const AuthSettings> settings_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> unauthenticated_{0};
  std::atomic<uint64_t> denied_{0};
  // Rate limit of the refusal log: one line per second, then a count.
  absl::Mutex log_mu_;
  absl::Time last_log_ ABSL_GUARDED_BY(log_mu_) = absl::InfinitePast();
  uint64_t suppressed_ ABSL_GUARDED_BY(log_mu_) = 0;
};

// For handlers: OK when `policy` is null (auth not configured) or grants
// `action` to the caller; else UNAUTHENTICATED or PERMISSION_DENIED.
absl::Status CheckAccess(AuthPolicy* policy,
                         const grpc::ServerContextBase& context, Action action);

// The PERMISSION_DENIED (or OK) of one published event for `who` (null:
// allowed): its source and type, a command's target switches and
// broadcast flag, and the region it speaks for (empty: none). The regions
// a command reaches are known only once it is routed: see
// AuthorizeCommandRegion.
absl::Status AuthorizePublish(AuthPolicy& policy, const Identity* who,
                              const switchboard::v1::Event& event,
                              absl::string_view speaks_for_region);
// Whether `who` (null: allowed) may send a command to `region`.
absl::Status AuthorizeCommandRegion(AuthPolicy& policy, const Identity* who,
                                    absl::string_view region);

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_COMMON_AUTH_POLICY_H_
