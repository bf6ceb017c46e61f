#include "services/common/config.h"

#include <fstream>
#include <limits>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace switchboard {
namespace {

std::string Describe(const YAML::Node& node) {
  if (node.IsScalar()) return absl::StrCat("'", node.Scalar(), "'");
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return "null";
}

}  // namespace

ConfigNode::ConfigNode()
    : ConfigNode(YAML::Node(YAML::NodeType::Map), "<defaults>", "") {}

ConfigNode::ConfigNode(YAML::Node node, std::string origin, std::string path)
    : node_(std::move(node)),
      origin_(std::move(origin)),
      path_(std::move(path)),
      used_(std::make_shared<std::set<std::string>>()) {}

absl::StatusOr<ConfigNode> ConfigNode::LoadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot read config file '", path, "'"));
  }
  std::stringstream text;
  text << in.rdbuf();
  return Parse(text.str(), path);
}

absl::StatusOr<ConfigNode> ConfigNode::Parse(const std::string& text,
                                             const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    // yaml-cpp reports 0-based lines; editors count from 1.
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": line ", e.mark.line + 1, ", column ",
                     e.mark.column + 1, ": ", e.msg));
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(absl::StrCat(
        origin, ": the top level must be a mapping of settings, got ",
        Describe(root)));
  }
  return ConfigNode(root, origin, "");
}

std::string ConfigNode::FieldName(absl::string_view key) const {
  return path_.empty() ? std::string(key) : absl::StrCat(path_, ".", key);
}

absl::Status ConfigNode::Error(absl::string_view key,
                               absl::string_view message) const {
  return absl::InvalidArgumentError(
      absl::StrCat(origin_, ": ", FieldName(key), ": ", message));
}

bool ConfigNode::Has(absl::string_view key) const {
  return node_[std::string(key)].IsDefined();
}

bool ConfigNode::HasMapping(absl::string_view key) const {
  YAML::Node value = node_[std::string(key)];
  return value.IsDefined() && value.IsMap();
}

absl::StatusOr<std::optional<std::string>> ConfigNode::Scalar(
    absl::string_view key) const {
  used_->insert(std::string(key));
  YAML::Node value = node_[std::string(key)];
  if (!value.IsDefined() || value.IsNull()) return std::nullopt;
  if (!value.IsScalar()) {
    return Error(
        key, absl::StrCat("expected a single value, got ", Describe(value)));
  }
  return value.Scalar();
}

absl::Status ConfigNode::Get(absl::string_view key, std::string* out) const {
  auto value = Scalar(key);
  if (!value.ok()) return value.status();
  if (value->has_value()) *out = **value;
  return absl::OkStatus();
}

absl::Status ConfigNode::Get(absl::string_view key, bool* out) const {
  auto value = Scalar(key);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return absl::OkStatus();
  std::string text = absl::AsciiStrToLower(**value);
  if (text == "true" || text == "yes" || text == "on") {
    *out = true;
  } else if (text == "false" || text == "no" || text == "off") {
    *out = false;
  } else {
    return Error(key,
                 absl::StrCat("expected true or false, got '", **value, "'"));
  }
  return absl::OkStatus();
}

absl::Status ConfigNode::Get(absl::string_view key, int64_t* out) const {
  auto value = Scalar(key);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return absl::OkStatus();
  int64_t parsed;
  if (!absl::SimpleAtoi(**value, &parsed)) {
    return Error(key, absl::StrCat("expected an integer, got '", **value, "'"));
  }
  *out = parsed;
  return absl::OkStatus();
}

absl::Status ConfigNode::Get(absl::string_view key, uint64_t* out) const {
  int64_t parsed = 0;
  bool present = Has(key);
  if (absl::Status s = Get(key, &parsed); !s.ok()) return s;
  if (!present) return absl::OkStatus();
  if (parsed < 0) {
    return Error(key, absl::StrCat("must not be negative, got ", parsed));
  }
  *out = static_cast<uint64_t>(parsed);
  return absl::OkStatus();
}

absl::Status ConfigNode::Get(absl::string_view key, uint32_t* out) const {
  uint64_t parsed = 0;
  bool present = Has(key);
  if (absl::Status s = Get(key, &parsed); !s.ok()) return s;
  if (!present) return absl::OkStatus();
  if (parsed > std::numeric_limits<uint32_t>::max()) {
    return Error(key, absl::StrCat("must be at most ",
                                   std::numeric_limits<uint32_t>::max(),
                                   ", got ", parsed));
  }
  *out = static_cast<uint32_t>(parsed);
  return absl::OkStatus();
}

absl::Status ConfigNode::Get(absl::string_view key, double* out) const {
  auto value = Scalar(key);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return absl::OkStatus();
  double parsed;
  if (!absl::SimpleAtod(**value, &parsed)) {
    return Error(key, absl::StrCat("expected a number, got '", **value, "'"));
  }
  *out = parsed;
  return absl::OkStatus();
}

absl::Status ConfigNode::Get(absl::string_view key, absl::Duration* out) const {
  auto value = Scalar(key);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return absl::OkStatus();
  const std::string& text = **value;
  double seconds;
  absl::Duration parsed;
  if (absl::SimpleAtod(text, &seconds)) {
    parsed = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(text, &parsed)) {
    return Error(key, absl::StrCat("expected a duration such as 250ms, 5s "
                                   "or 15m, got '",
                                   text, "'"));
  }
  if (parsed < absl::ZeroDuration()) {
    return Error(key, absl::StrCat("must not be negative, got '", text, "'"));
  }
  *out = parsed;
  return absl::OkStatus();
}

absl::Status ConfigNode::Get(absl::string_view key,
                             std::vector<std::string>* out) const {
  used_->insert(std::string(key));
  YAML::Node value = node_[std::string(key)];
  if (!value.IsDefined() || value.IsNull()) return absl::OkStatus();
  std::vector<std::string> items;
  if (value.IsScalar()) {
    items.push_back(value.Scalar());
  } else if (value.IsSequence()) {
    for (size_t i = 0; i < value.size(); ++i) {
      if (!value[i].IsScalar()) {
        return Error(key, absl::StrCat("item ", i, ": expected a string, got ",
                                       Describe(value[i])));
      }
      items.push_back(value[i].Scalar());
    }
  } else {
    return Error(key, "expected a list of strings, got a mapping");
  }
  *out = std::move(items);
  return absl::OkStatus();
}

absl::StatusOr<ConfigNode> ConfigNode::Child(absl::string_view key) const {
  used_->insert(std::string(key));
  YAML::Node value = node_[std::string(key)];
  if (!value.IsDefined() || value.IsNull()) {
    return ConfigNode(YAML::Node(YAML::NodeType::Map), origin_, FieldName(key));
  }
  if (!value.IsMap()) {
    return Error(key, absl::StrCat("expected a mapping of settings, got ",
                                   Describe(value)));
  }
  return ConfigNode(value, origin_, FieldName(key));
}

std::vector<std::string> ConfigNode::Keys() const {
  std::vector<std::string> keys;
  for (const auto& entry : node_) keys.push_back(entry.first.Scalar());
  return keys;
}

absl::Status ConfigNode::CheckAllKeysKnown() const {
  for (const auto& entry : node_) {
    std::string key = entry.first.Scalar();
    if (used_->count(key) == 0) {
      return Error(key, "unknown setting (misspelt, or not valid here)");
    }
  }
  return absl::OkStatus();
}

}  // namespace switchboard
