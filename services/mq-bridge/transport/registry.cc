#include "services/mq-bridge/transport/registry.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace switchboard::bridge {

TransportRegistry& TransportRegistry::Global() {
  static auto* registry = new TransportRegistry();
  return *registry;
}

absl::Status TransportRegistry::Register(const std::string& name,
                                         TransportFactory factory) {
  absl::MutexLock lock(&mu_);
  if (!factories_.emplace(name, std::move(factory)).second) {
    return absl::AlreadyExistsError(absl::StrCat(
        "two transport drivers register the name '", name, "'"));
  }
  return absl::OkStatus();
}

bool TransportRegistry::RegisterOrDie(const std::string& name,
                                      TransportFactory factory) {
  absl::Status s = Register(name, std::move(factory));
  if (!s.ok()) {
    std::fprintf(stderr, "fatal: %s\n", std::string(s.message()).c_str());
    std::abort();
  }
  return true;
}

absl::StatusOr<std::unique_ptr<Transport>> TransportRegistry::Create(
    const std::string& name, const ConfigNode& settings) const {
  TransportFactory factory;
  {
    absl::MutexLock lock(&mu_);
    auto it = factories_.find(name);
    if (it != factories_.end()) factory = it->second;
  }
  if (!factory) {
    return absl::NotFoundError(
        absl::StrCat("unknown transport driver '", name,
                     "' (known: ", absl::StrJoin(Names(), ", "), ")"));
  }
  return factory(settings);
}

std::vector<std::string> TransportRegistry::Names() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> names;
  for (const auto& [name, factory] : factories_) names.push_back(name);
  return names;
}

}  // namespace switchboard::bridge
