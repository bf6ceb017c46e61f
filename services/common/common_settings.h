#ifndef SWITCHBOARD_SERVICES_COMMON_COMMON_SETTINGS_H_
#define SWITCHBOARD_SERVICES_COMMON_COMMON_SETTINGS_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/common/auth_policy.h"
#include "services/common/config.h"
#include "services/common/log_settings.h"
#include "services/common/metrics/metrics.h"
#include "services/common/server_limits.h"
#include "services/common/tls_settings.h"

namespace switchboard {

// The sections every service's config file shares: `limits`, `tls`,
// `auth`, `metrics` and `log`. They are read before the service's own
// settings (ServiceMain, --check_config, reloads), which then count them as
// known keys.
struct CommonSettings {
  ServerLimits limits;
  ServerTlsSettings tls;
  AuthSettings auth;
  MetricsSettings metrics;
  LogSettings log;

  // Reads every section, even after one failed; the first error, or the
  // settings. `errors`, when given, gets each failed section's error (one
  // run of --check_config lists them all).
  static absl::StatusOr<CommonSettings> Parse(
      const ConfigNode& root, const ServerLimits& default_limits,
      std::vector<absl::Status>* errors = nullptr);
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_COMMON_COMMON_SETTINGS_H_
