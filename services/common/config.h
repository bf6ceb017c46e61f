#ifndef SWITCHBOARD_SERVICES_COMMON_CONFIG_H_
#define SWITCHBOARD_SERVICES_COMMON_CONFIG_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "yaml-cpp/yaml.h"

namespace switchboard {

// A read-only view of one mapping in a YAML (or JSON, which is YAML) config
// file, that knows its place in the file so every error names the field:
//   "bridge.yaml: transport.memory.max_queue_depth: expected an integer, got
//   'ten'".
// Typed getters leave the output untouched when the key is absent, so a
// config struct's member initializers are its defaults. Each getter records
// the key; CheckAllKeysKnown() then rejects the keys nobody read, which
// catches misspelt settings instead of silently ignoring them.
//
// Not thread-safe; a config is parsed once, on one thread.
class ConfigNode {
 public:
  // An empty mapping: every setting at its default.
  ConfigNode();

  // Parses a file. Errors name the file (and line, for syntax errors).
  static absl::StatusOr<ConfigNode> LoadFile(const std::string& path);
  // Parses text; `origin` names it in errors.
  static absl::StatusOr<ConfigNode> Parse(const std::string& text,
                                          const std::string& origin);

  bool Has(absl::string_view key) const;
  // Whether `key` holds a mapping, for settings that take either a single
  // value or a mapping of sub-settings (e.g. `listen`).
  bool HasMapping(absl::string_view key) const;

  absl::Status Get(absl::string_view key, std::string* out) const;
  absl::Status Get(absl::string_view key, bool* out) const;
  absl::Status Get(absl::string_view key, int64_t* out) const;
  absl::Status Get(absl::string_view key, uint32_t* out) const;
  absl::Status Get(absl::string_view key, uint64_t* out) const;
  absl::Status Get(absl::string_view key, double* out) const;
  // Durations are written "250ms", "5s", "15m", "1h30m" (absl syntax), or as
  // a bare number of seconds.
  absl::Status Get(absl::string_view key, absl::Duration* out) const;
  // A list of strings; a single string is a list of one.
  absl::Status Get(absl::string_view key, std::vector<std::string>* out) const;

  // The mapping under `key`; an empty one when absent. Fails when `key`
  // holds something other than a mapping.
  absl::StatusOr<ConfigNode> Child(absl::string_view key) const;

  // The mapping's keys in file order, for settings keyed by a name (e.g.
  // per-queue filters). Read each with Child() or a getter as usual.
  std::vector<std::string> Keys() const;

  // Fails, naming the first one, if the mapping has keys that no getter or
  // Child() asked for.
  absl::Status CheckAllKeysKnown() const;

  // An InvalidArgument error for `key` of this node, in the house format.
  absl::Status Error(absl::string_view key, absl::string_view message) const;

  // "transport.memory" for nested nodes; "" at the root.
  const std::string& path() const { return path_; }

 private:
  ConfigNode(YAML::Node node, std::string origin, std::string path);
  // The scalar text at `key`; nullopt when absent or null.
  absl::StatusOr<std::optional<std::string>> Scalar(
      absl::string_view key) const;
  std::string FieldName(absl::string_view key) const;

  YAML::Node node_;
  std::string origin_;
  std::string path_;
  std::shared_ptr<std::set<std::string>> used_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_COMMON_CONFIG_H_
