#include "services/common/common_settings.h"

#include <utility>

namespace switchboard {
namespace {

// Moves `section`'s value into `*out`, or records its error.
template <typename T>
void Take(absl::StatusOr<T> section, T* out, std::vector<absl::Status>* errors) {
  if (section.ok()) {
    *out = *std::move(section);
  } else {
    errors->push_back(section.status());
  }
}

}  // namespace

absl::StatusOr<CommonSettings> CommonSettings::Parse(
    const ConfigNode& root, const ServerLimits& default_limits,
    std::vector<absl::Status>* errors) {
  std::vector<absl::Status> found;
  CommonSettings s;
  // Logging first: what follows may log.
  Take(LogSettings::Parse(root), &s.log, &found);
  Take(ServerLimits::Parse(root, default_limits), &s.limits, &found);
  Take(ServerTlsSettings::Parse(root), &s.tls, &found);
  Take(AuthSettings::Parse(root), &s.auth, &found);
  Take(MetricsSettings::Parse(root), &s.metrics, &found);
  if (errors != nullptr) errors->insert(errors->end(), found.begin(), found.end());
  if (!found.empty()) return found.front();
  return s;
}

}  // namespace switchboard
