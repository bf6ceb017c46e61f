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

// A second driver under a taken name used to be ignored silently, so the
// bridge ran whichever registered first.
TEST(TransportRegistryTest, ANameRegisteredTwiceIsAnError) {
  TransportRegistry registry;
  ASSERT_TRUE(registry.Register("toy", Nothing()).ok());
  absl::Status again = registry.Register("toy", Nothing());
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(again.message()), HasSubstr("'toy'"));
  EXPECT_EQ(registry.Names(), std::vector<std::string>{"toy"});
}

TEST(TransportRegistryDeathTest, TheMacroEndsTheProcessOnADuplicate) {
  TransportRegistry registry;
  ASSERT_TRUE(registry.RegisterOrDie("toy", Nothing()));
  EXPECT_DEATH(registry.RegisterOrDie("toy", Nothing()),
               "two transport drivers register the name 'toy'");
}

}  // namespace
}  // namespace switchboard::bridge
