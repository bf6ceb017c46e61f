#include "services/mq-bridge/transport/registry.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/common/status_macros.h"

namespace switchboard::bridge {

TransportRegistry& TransportRegistry::Global() {
  static auto* registry = new TransportRegistry();
  return *registry;
}

absl::Status TransportRegistry::Register(const std::string& name,
                                         TransportFactory factory,
                                         TransportSettingsCheck check,
                                         bool is_default) {
  absl::MutexLock lock(&mu_);
  if (drivers_.count(name) != 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("two transport drivers register the name '", name, "'"));
  }
  if (is_default && !default_driver_.empty()) {
    return absl::AlreadyExistsError(
        absl::StrCat("transport drivers '", default_driver_, "' and '", name,
                     "' both register as the default"));
  }
  drivers_.emplace(name, Driver{std::move(factory), std::move(check)});
  if (is_default) default_driver_ = name;
  return absl::OkStatus();
}

bool TransportRegistry::RegisterOrDie(const std::string& name,
                                      TransportFactory factory,
                                      TransportSettingsCheck check,
                                      bool is_default) {
  absl::Status s =
      Register(name, std::move(factory), std::move(check), is_default);
  if (!s.ok()) {
    std::fprintf(stderr, "fatal: %s\n", std::string(s.message()).c_str());
    std::abort();
  }
  return true;
}

absl::StatusOr<TransportRegistry::Driver> TransportRegistry::Find(
    const std::string& name) const {
  {
    absl::MutexLock lock(&mu_);
    auto it = drivers_.find(name);
    if (it != drivers_.end()) return it->second;
  }
  return absl::NotFoundError(
      absl::StrCat("unknown transport driver '", name,
                   "' (known: ", absl::StrJoin(Names(), ", "), ")"));
}

absl::StatusOr<std::unique_ptr<Transport>> TransportRegistry::Create(
    const std::string& name, const ConfigNode& settings) const {
  SB_ASSIGN_OR_RETURN(Driver driver, Find(name));
  return driver.create(settings);
}

absl::Status TransportRegistry::CheckSettings(
    const std::string& name, const ConfigNode& settings) const {
  SB_ASSIGN_OR_RETURN(Driver driver, Find(name));
  return driver.check(settings);
}

std::string TransportRegistry::DefaultDriver() const {
  absl::MutexLock lock(&mu_);
  return default_driver_;
}

std::vector<std::string> TransportRegistry::Names() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> names;
  for (const auto& [name, driver] : drivers_) names.push_back(name);
  return names;
}

}  // namespace switchboard::bridge
