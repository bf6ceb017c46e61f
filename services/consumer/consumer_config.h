#ifndef SWITCHBOARD_SERVICES_CONSUMER_CONSUMER_CONFIG_H_
#define SWITCHBOARD_SERVICES_CONSUMER_CONSUMER_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/client_channel.h"
#include "services/common/config.h"
#include "services/common/listen_settings.h"
#include "services/common/server_limits.h"
#include "services/consumer/link_view.h"

namespace switchboard::consumer {

// Bounds of an ack deadline: the `ack_deadline` setting, and an app's
// open.ack_deadline and extend.deadline.
inline constexpr absl::Duration kMinAckDeadline = absl::Seconds(1);
inline constexpr absl::Duration kMaxAckDeadline = absl::Hours(1);

// The consumer service's settings (consumer.yaml).
struct ConsumerConfig {
  // `listen`: TCP, plus or instead a unix socket (see ListenSettings).
  ListenSettings listen = ListenSettings::Tcp("0.0.0.0", 50052);
  std::string bridge_address = "127.0.0.1:50053";
  // `bridge.tls` (plaintext unless its ca_file is set) and the token of
  // `bridge.token_file`.
  ClientCredentials bridge_credentials;
  // Credit window of a subscription that asks for 0.
  uint32_t default_credit = 100;
  // Largest credit window an app may ask for.
  uint32_t max_credit = 10000;
  // Event ids remembered per queue to drop duplicate deliveries (a
  // transport's republish or redelivery); 0 turns deduplication off
  // (`dedup.window`; the old top-level `dedup_window` still works).
  uint64_t dedup_window = 100000;
  // `dedup.store`: "memory" (forgotten by a restart) or "file" (kept in
  // `dedup.directory`, see DedupStore).
  std::string dedup_store = "memory";
  std::string dedup_directory;
  // How long a delivery may stay unacked before it goes back to its queue
  // (a subscription's SubscribeOpen.ack_deadline overrides it); zero: off.
  absl::Duration ack_deadline = absl::Seconds(30);
  // The link-status view (`links`).
  LinkViewConfig links;
  // `limits`, shared by every service; its keepalive also applies to the
  // channel to the bridge.
  ServerLimits limits;

  static absl::StatusOr<ConsumerConfig> Parse(
      const ConfigNode& config, const std::string& listen_override);
};

}  // namespace switchboard::consumer

#endif  // SWITCHBOARD_SERVICES_CONSUMER_CONSUMER_CONFIG_H_
