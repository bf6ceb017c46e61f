#include "services/broadcaster/router.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/common/link_event.h"

namespace switchboard::broadcaster {
namespace {

using ::switchboard::v1::Event;
using ::switchboard::v1::LinkStatus;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

Event Make(const std::string& source, const std::string& type = "t") {
  Event e;
  e.set_source(source);
  e.set_type(type);
  return e;
}

Router FromYaml(const std::string& yaml) {
  auto node = ConfigNode::Parse(yaml, "b.yaml");
  EXPECT_TRUE(node.ok()) << node.status();
  auto settings = Router::ParseSettings(*node);
  EXPECT_TRUE(settings.ok()) << settings.status();
  return Router(settings.ok() ? *std::move(settings) : Router::Settings{});
}

std::string ParseError(const std::string& yaml) {
  auto node = ConfigNode::Parse(yaml, "b.yaml");
  EXPECT_TRUE(node.ok()) << node.status();
  auto settings = Router::ParseSettings(*node);
  EXPECT_FALSE(settings.ok());
  return std::string(settings.status().message());
}

std::vector<std::string> RouteOf(const Router& router, Event e) {
  auto queues = router.Route(&e);
  EXPECT_TRUE(queues.ok()) << queues.status();
  return queues.ok() ? *queues : std::vector<std::string>{"<error>"};
}

TEST(RouterTest, RoutesToTheSourceAppQueueAndVerbose) {
  Router router(Router::Settings{});
  EXPECT_THAT(RouteOf(router, Make("kytos/topology")),
              ElementsAre("app.kytos.topology", "verbose"));
  EXPECT_THAT(RouteOf(router, Make("speaker/region-a")),
              ElementsAre("app.speaker.region-a", "verbose"));
  // Sources that differ only in characters a queue name cannot hold keep
  // distinct queues (they shared "app.kytos.topology" before).
  const std::string dotted = RouteOf(router, Make("kytos.topology"))[0];
  EXPECT_NE(dotted, "app.kytos.topology");
  EXPECT_EQ(dotted.rfind("app.kytos.topology:", 0), 0u) << dotted;
  EXPECT_THAT(router.StaticQueues(), ElementsAre("verbose"));
}

TEST(RouterTest, VerboseCanBeTurnedOffAndPrefixChanged) {
  Router router =
      FromYaml("routing:\n  app_queue_prefix: events.\n  verbose_queue: ''\n");
  EXPECT_THAT(RouteOf(router, Make("sdx")), ElementsAre("events.sdx"));
  EXPECT_TRUE(router.StaticQueues().empty());
}

TEST(RouterTest, FilterMatrix) {
  Router router = FromYaml(R"(
routing:
  app_sources: {deny: ['noisy/.*']}
  queues:
    topology: {allow: ['kytos/topology\..*']}
filters:
  deny: ['.*\.echo']
  queues:
    verbose: {deny: ['kytos/topology\.link_up']}
    app.kytos.topology: {allow: ['kytos/topology\.link_.*']}
)");
  // Global deny: nowhere.
  EXPECT_THAT(RouteOf(router, Make("kytos/topology", "kytos/topology.echo")),
              IsEmpty());
  // Per-queue deny on verbose, extra queue by type.
  EXPECT_THAT(RouteOf(router, Make("kytos/topology", "kytos/topology.link_up")),
              ElementsAre("app.kytos.topology", "topology"));
  // Per-queue allow on the app queue.
  EXPECT_THAT(
      RouteOf(router, Make("kytos/topology", "kytos/topology.switch_new")),
      ElementsAre("verbose", "topology"));
  // A source without an app queue still reaches verbose.
  EXPECT_THAT(RouteOf(router, Make("noisy/app", "x")), ElementsAre("verbose"));
  EXPECT_THAT(router.StaticQueues(), ElementsAre("verbose", "topology"));
}

TEST(RouterTest, TypedLinkStatusGoesToItsLastValueQueue) {
  Router router(Router::Settings{});
  Event e = Make("kytos/topology", "link");
  e.mutable_link_status()->set_link_id("aa:bb");
  e.mutable_link_status()->set_state(LinkStatus::DOWN);
  auto queues = router.Route(&e);
  ASSERT_TRUE(queues.ok());
  EXPECT_THAT(*queues,
              ElementsAre("app.kytos.topology", "verbose", "link.aa:bb"));
  auto report = ReadLinkReport(e);
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(e.attributes().at(std::string(kLinkStateAttribute)), "DOWN");
  EXPECT_TRUE(router.Spec("link.aa:bb").last_value());
  EXPECT_FALSE(router.Spec("verbose").last_value());
}

TEST(RouterTest, ConfiguredLinkEventTypesReadTheIdFromJson) {
  Router router = FromYaml(R"(
links:
  event_types:
    kytos/topology.link_down: {state: down, link_id_field: link.id}
    kytos/topology.link_up: {state: up, link_id_field: link.id}
    sdx/link_up: {state: up}
)");
  Event e = Make("kytos/topology", "kytos/topology.link_down");
  (*(*e.mutable_json_data()->mutable_fields())["link"]
        .mutable_struct_value()
        ->mutable_fields())["id"]
      .set_string_value("l1");
  EXPECT_THAT(RouteOf(router, e),
              ElementsAre("app.kytos.topology", "verbose", "link.l1"));
  Event sdx = Make("sdx", "sdx/link_up");
  sdx.set_subject("l2");
  EXPECT_THAT(RouteOf(router, sdx),
              ElementsAre("app.sdx", "verbose", "link.l2"));
  // A link event without its id is refused with the place named.
  Event missing = Make("kytos/topology", "kytos/topology.link_up");
  auto refused = router.Route(&missing);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("no link id at json_data.link.id"));
}

TEST(RouterTest, ProducersCannotForgeLinkAttributes) {
  Router router(Router::Settings{});
  Event e = Make("app", "not_a_link");
  StampLinkReport({"l9", LinkStatus::DOWN}, &e);
  EXPECT_THAT(RouteOf(router, e), ElementsAre("app.app", "verbose"));
  Event routed = e;
  ASSERT_TRUE(router.Route(&routed).ok());
  EXPECT_FALSE(ReadLinkReport(routed).has_value());
}

TEST(RouterTest, LinkQueuesCanBeTurnedOff) {
  Router router = FromYaml("links: {queue_prefix: ''}\n");
  Event e = Make("a");
  e.mutable_link_status()->set_link_id("l1");
  e.mutable_link_status()->set_state(LinkStatus::UP);
  EXPECT_THAT(RouteOf(router, e), ElementsAre("app.a", "verbose"));
}

TEST(RouterTest, SettingsAreValidated) {
  EXPECT_THAT(ParseError("routing: {verbose_queue: 'all events'}\n"),
              HasSubstr("b.yaml: routing.verbose_queue: queue name 'all "
                        "events'"));
  EXPECT_THAT(ParseError("routing: {app_queue_prefix: 'a/'}\n"),
              HasSubstr("routing.app_queue_prefix"));
  EXPECT_THAT(ParseError("filters: {allow: ['(']}\n"),
              HasSubstr("filters.allow[0]: invalid pattern '('"));
  EXPECT_THAT(ParseError("filters: {queues: {verbose: {deny: ['a[']}}}\n"),
              HasSubstr("filters.queues.verbose.deny[0]: invalid pattern"));
  EXPECT_THAT(ParseError("routing: {queues: {link.x: {}}}\n"),
              HasSubstr("routing.queues.link.x: 'link.x' starts with "
                        "links.queue_prefix"));
  EXPECT_THAT(ParseError("links: {event_types: {t: {state: sideways}}}\n"),
              HasSubstr("links.event_types.t.state: expected 'up' or 'down'"));
  EXPECT_THAT(ParseError("filters: {alow: []}\n"),
              HasSubstr("filters.alow: unknown setting"));
  EXPECT_THAT(ParseError("routing: {queues: {'bad name': {}}}\n"),
              HasSubstr("routing.queues.bad name"));
}

}  // namespace
}  // namespace switchboard::broadcaster
