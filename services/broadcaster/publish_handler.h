#ifndef SWITCHBOARD_SERVICES_BROADCASTER_PUBLISH_HANDLER_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_PUBLISH_HANDLER_H_

#include <cstdint>
#include <functional>

#include "absl/strings/string_view.h"
#include "services/common/auth_policy.h"
#include "services/common/bidi_stream.h"
#include "switchboard/v1/broadcaster.grpc.pb.h"

namespace switchboard::broadcaster {

// The Publish request header that sets a stream's acceptance level
// ("buffered" or "confirmed"); a batch's own `acceptance` overrides it.
inline constexpr absl::string_view kAcceptanceHeader = "switchboard-acceptance";

// Broadcaster.Publish: a stream of batches, each handed to `accept` (the
// broadcaster's publishing path) at the stream's acceptance level (from
// kAcceptanceHeader; BUFFERED without it) unless the batch sets its own.
// Answers leave in batch order: a CONFIRMED batch's answer waits for the
// transport and every later answer waits behind it. A stream stops reading
// while `max_pending_batches` answers wait. With auth configured, the
// producer is authenticated when the stream opens, and again when the
// policy changes (a reload) while it is open. Thread-safe.
class PublishHandler {
 public:
  using AnswerFn = std::function<void(switchboard::v1::PublishResponse)>;
  // Handles one batch at a level and answers it exactly once through its
  // AnswerFn (see BroadcasterService::Accept). The Identity is the
  // producer (null: auth off).
  using AcceptFn = std::function<void(switchboard::v1::PublishRequest&,
                                      switchboard::v1::Acceptance, AnswerFn,
                                      const Identity*)>;

  // `max_pending_batches` is asked as each stream opens (a reload may
  // change it).
  PublishHandler(AcceptFn accept,
                 std::function<uint32_t()> max_pending_batches);

  // A new stream. `auth` (null: not configured) authenticates the
  // producer; it must outlive the stream. A bad acceptance header or
  // refused credentials end the stream at once.
  grpc::ServerBidiReactor<switchboard::v1::PublishRequest,
                          switchboard::v1::PublishResponse>*
  Open(grpc::CallbackServerContext* context, AuthPolicy* auth);

  // Ends every open stream (UNAVAILABLE, after its queued answers) and
  // refuses new ones: shutdown.
  void CloseAll() { streams_.CloseAll(); }

 private:
  const AcceptFn accept_;
  const std::function<uint32_t()> max_pending_batches_;
  StreamSet streams_;
};

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_PUBLISH_HANDLER_H_
