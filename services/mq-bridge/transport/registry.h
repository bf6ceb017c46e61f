#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_REGISTRY_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_REGISTRY_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "services/common/config.h"
#include "services/mq-bridge/transport/transport.h"

namespace switchboard::bridge {

// Builds a driver from its own settings (the `transport.<driver>` section of
// the bridge config). Drivers validate their settings and reject unknown
// keys.
using TransportFactory =
    std::function<absl::StatusOr<std::unique_ptr<Transport>>(
        const ConfigNode& settings)>;

// Validates a driver's settings as its factory would, without connecting,
// binding or starting anything (`--check_config`). Settings that name files
// (passwords, keys) are read, so that a missing file is reported too.
using TransportSettingsCheck =
    std::function<absl::Status(const ConfigNode& settings)>;

// Drivers by name. Drivers register themselves at static-initialisation time
// with SB_REGISTER_TRANSPORT (their cc_library is alwayslink), so linking a
// driver is all it takes to make it selectable. Thread-safe.
class TransportRegistry {
 public:
  static TransportRegistry& Global();

  // AlreadyExists if the name is taken (two drivers would compete for it),
  // or if `is_default` and another driver already is the default.
  absl::Status Register(const std::string& name, TransportFactory factory,
                        TransportSettingsCheck check, bool is_default = false);
  // Register for SB_REGISTER_TRANSPORT: a duplicate name (or a second
  // default) is a build mistake, so it ends the process at start with the
  // name, as Envoy does.
  bool RegisterOrDie(const std::string& name, TransportFactory factory,
                     TransportSettingsCheck check, bool is_default = false);

  // The driver a bridge runs when its config names none: the one registered
  // with SB_REGISTER_DEFAULT_TRANSPORT; empty if none is linked.
  std::string DefaultDriver() const;

  // NotFound, listing the known drivers, for an unknown name.
  absl::StatusOr<std::unique_ptr<Transport>> Create(
      const std::string& name, const ConfigNode& settings) const;

  // The driver's settings check; NotFound as Create for an unknown name.
  absl::Status CheckSettings(const std::string& name,
                             const ConfigNode& settings) const;

  // Sorted.
  std::vector<std::string> Names() const;

 private:
  struct Driver {
    TransportFactory create;
    TransportSettingsCheck check;
  };
  // NotFound naming the known drivers.
  absl::StatusOr<Driver> Find(const std::string& name) const;

  mutable absl::Mutex mu_;
  std::map<std::string, Driver> drivers_ ABSL_GUARDED_BY(mu_);
  std::string default_driver_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard::bridge

// Registers a driver under `name`: `create` is its TransportFactory and
// `parse_settings` (ConfigNode -> StatusOr of its settings) its settings
// check. The driver's cc_library comes from sb_transport_driver()
// (bazel/transport_driver.bzl), which keeps the registration linked.
#define SB_TRANSPORT_CONCAT_INNER_(a, b) a##b
#define SB_TRANSPORT_CONCAT_(a, b) SB_TRANSPORT_CONCAT_INNER_(a, b)
#define SB_REGISTER_TRANSPORT_(name, create, parse_settings, is_default)       \
  static const bool SB_TRANSPORT_CONCAT_(sb_transport_registered_, __LINE__) = \
      ::switchboard::bridge::TransportRegistry::Global().RegisterOrDie(        \
          name, create,                                                        \
          [](const ::switchboard::ConfigNode& settings) {                      \
            return parse_settings(settings).status();                          \
          },                                                                   \
          is_default)
#define SB_REGISTER_TRANSPORT(name, create, parse_settings) \
  SB_REGISTER_TRANSPORT_(name, create, parse_settings, false)
// The same, and the driver is the one a config that names none runs. One
// linked driver may be the default.
#define SB_REGISTER_DEFAULT_TRANSPORT(name, create, parse_settings) \
  SB_REGISTER_TRANSPORT_(name, create, parse_settings, true)

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_REGISTRY_H_
