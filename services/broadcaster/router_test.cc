#include "services/broadcaster/router.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard::broadcaster {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

switchboard::v1::Event FromSource(const std::string& source) {
  switchboard::v1::Event e;
  e.set_source(source);
  e.set_type("t");
  return e;
}

TEST(RouterTest, RoutesToTheSourceAppQueueAndVerbose) {
  Router router(Router::Settings{});
  EXPECT_THAT(router.Route(FromSource("kytos/topology")),
              ElementsAre("app.kytos.topology", "verbose"));
  EXPECT_THAT(router.Route(FromSource("speaker/region a")),
              ElementsAre("app.speaker.region.a", "verbose"));
  EXPECT_THAT(router.StaticQueues(), ElementsAre("verbose"));
}

TEST(RouterTest, VerboseCanBeTurnedOffAndPrefixChanged) {
  Router router(Router::Settings{"events.", ""});
  EXPECT_THAT(router.Route(FromSource("sdx")), ElementsAre("events.sdx"));
  EXPECT_TRUE(router.StaticQueues().empty());
}

TEST(RouterTest, SettingsAreValidated) {
  auto node = ConfigNode::Parse("verbose_queue: 'all events'\n", "b.yaml");
  ASSERT_TRUE(node.ok());
  auto settings = Router::ParseSettings(*node);
  EXPECT_EQ(settings.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(settings.status().message()),
              HasSubstr("b.yaml: verbose_queue: queue name 'all events'"));

  node = ConfigNode::Parse("app_queue_prefix: 'a/'\n", "b.yaml");
  EXPECT_THAT(std::string(Router::ParseSettings(*node).status().message()),
              HasSubstr("app_queue_prefix"));
}

}  // namespace
}  // namespace switchboard::broadcaster
