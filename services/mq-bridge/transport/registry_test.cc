#include "services/mq-bridge/transport/registry.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

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

}  // namespace
}  // namespace switchboard::bridge
