#include "services/mq-bridge/transport/registry.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/common/status_macros.h"

namespace switchboard::bridge {
namespace {

using ::testing::HasSubstr;

TransportFactory Nothing() {
  return [](const ConfigNode&) -> absl::StatusOr<std::unique_ptr<Transport>> {
    return absl::UnimplementedError("not a driver");
  };
}

TransportSettingsCheck AnySettings() {
  return [](const ConfigNode&) { return absl::OkStatus(); };
}

// A second driver under a taken name used to be ignored silently, so the
// bridge ran whichever registered first.
TEST(TransportRegistryTest, ANameRegisteredTwiceIsAnError) {
  TransportRegistry registry;
  ASSERT_TRUE(registry.Register("toy", Nothing(), AnySettings()).ok());
  absl::Status again = registry.Register("toy", Nothing(), AnySettings());
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(again.message()), HasSubstr("'toy'"));
  EXPECT_EQ(registry.Names(), std::vector<std::string>{"toy"});
}

TEST(TransportRegistryDeathTest, TheMacroEndsTheProcessOnADuplicate) {
  TransportRegistry registry;
  ASSERT_TRUE(registry.RegisterOrDie("toy", Nothing(), AnySettings()));
  EXPECT_DEATH(registry.RegisterOrDie("toy", Nothing(), AnySettings()),
               "two transport drivers register the name 'toy'");
}

TEST(TransportRegistryTest, SettingsAreCheckedByTheNamedDriverOnly) {
  TransportRegistry registry;
  ASSERT_TRUE(registry
                  .Register("toy", Nothing(),
                            [](const ConfigNode& settings) {
                              return settings.Error("depth", "too deep");
                            })
                  .ok());
  absl::Status s = registry.CheckSettings("toy", ConfigNode());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("depth: too deep"));
  absl::Status unknown = registry.CheckSettings("nope", ConfigNode());
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(unknown.message()),
              HasSubstr("unknown transport driver 'nope' (known: toy)"));
}

TEST(TransportRegistryTest, OneDriverIsTheDefault) {
  TransportRegistry registry;
  EXPECT_EQ(registry.DefaultDriver(), "");
  ASSERT_TRUE(registry.Register("toy", Nothing(), AnySettings()).ok());
  ASSERT_TRUE(registry
                  .Register("embedded", Nothing(), AnySettings(),
                            /*is_default=*/true)
                  .ok());
  EXPECT_EQ(registry.DefaultDriver(), "embedded");
  absl::Status second = registry.Register("other", Nothing(), AnySettings(),
                                          /*is_default=*/true);
  EXPECT_EQ(second.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(second.message()),
              HasSubstr("'embedded' and 'other' both register as the default"));
  EXPECT_EQ(registry.DefaultDriver(), "embedded");
  EXPECT_EQ(registry.Names(), (std::vector<std::string>{"embedded", "toy"}));
}

// What a driver's .cc writes: the macros register into the global registry
// before main, with the driver's factory and settings parser.
absl::StatusOr<std::unique_ptr<Transport>> CreateToy(const ConfigNode&) {
  return absl::UnimplementedError("a toy");
}
absl::StatusOr<int64_t> ParseToySettings(const ConfigNode& settings) {
  int64_t depth = 0;
  SB_RETURN_IF_ERROR(settings.Get("depth", &depth));
  if (depth < 0) return settings.Error("depth", "must not be negative");
  return depth;
}
SB_REGISTER_DEFAULT_TRANSPORT("macro-toy", CreateToy, ParseToySettings);
SB_REGISTER_TRANSPORT("macro-other", CreateToy, ParseToySettings);

TEST(TransportRegistryTest, TheMacrosRegisterBeforeMain) {
  TransportRegistry& global = TransportRegistry::Global();
  EXPECT_EQ(global.DefaultDriver(), "macro-toy");
  EXPECT_EQ(global.Names(),
            (std::vector<std::string>{"macro-other", "macro-toy"}));
  auto created = global.Create("macro-other", ConfigNode());
  EXPECT_EQ(created.status().code(), absl::StatusCode::kUnimplemented);
  auto node = ConfigNode::Parse("depth: -1\n", "toy.yaml");
  ASSERT_TRUE(node.ok()) << node.status();
  absl::Status checked = global.CheckSettings("macro-toy", *node);
  EXPECT_EQ(checked.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(checked.message()),
              HasSubstr("depth: must not be negative"));
}

}  // namespace
}  // namespace switchboard::bridge
