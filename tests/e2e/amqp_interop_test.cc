// An AMQP client that is not switchboard code (Python pika, Debian's
// python3-pika) consumes a switchboard queue and decodes the event with the
// published proto: the AMQP message format is an interface, and this test
// pins it.
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster.h"
#include "tests/testing/rabbitmq_server.h"

namespace switchboard::testing {
namespace {

using ::testing::HasSubstr;

TEST(AmqpInteropTest, PikaConsumesAndDecodesASwitchboardEvent) {
  auto broker = RabbitMqServer::Start();
  ASSERT_TRUE(broker.ok()) << broker.status();
  Cluster::Options options;
  options.bridge_yaml = absl::StrCat(
      "listen: 127.0.0.1:0\ntransport:\n  driver: rabbitmq\n  rabbitmq:\n"
      "    port: ",
      (*broker)->amqp_port(), "\n");
  auto cluster = Cluster::Start(options);
  ASSERT_TRUE(cluster.ok()) << cluster.status();

  switchboard::v1::Event event;
  event.set_source("kytos/topology");
  event.set_type("kytos/topology.link_down");
  event.set_subject("s1:eth1-s2:eth1");
  event.mutable_link_status()->set_link_id("s1:eth1-s2:eth1");
  event.mutable_link_status()->set_state(switchboard::v1::LinkStatus::DOWN);
  (*event.mutable_attributes())["controller"] = "kytos-1";
  auto answers = Publish((*cluster)->broadcaster_address(), {event});
  ASSERT_TRUE(answers.ok()) << answers.status();
  ASSERT_EQ((*answers)[0].accepted(), 1u);
  const std::string id = (*answers)[0].event_ids(0);
  ASSERT_TRUE(Eventually([&] {
    auto q = ListQueues((*cluster)->consumer_address());
    if (!q.ok()) return false;
    for (const auto& queue : q->queues()) {
      if (queue.name() == "app.kytos.topology") return queue.depth() == 1;
    }
    return false;
  }));

  std::string out = absl::StrCat((*cluster)->dir(), "/pika.out");
  std::string err = absl::StrCat((*cluster)->dir(), "/pika.err");
  // The generated event_pb2 sits in the runfiles beside the script.
  setenv("PYTHONPATH", Runfile("protos").c_str(), 1);
  Process::Options o;
  o.stdout_path = out;
  o.stderr_path = err;
  auto pika = Process::Start(
      "/usr/bin/python3",
      {Runfile("tests/e2e/interop/consume_one.py"), "--port",
       std::to_string((*broker)->amqp_port()), "--queue", "app.kytos.topology"},
      o);
  ASSERT_TRUE(pika.ok());
  ASSERT_EQ((*pika)->Wait(absl::Seconds(60)), 0) << ReadFile(err);
  const std::string seen = ReadFile(out);
  EXPECT_THAT(seen, HasSubstr("\"media_type\": \"application/x-protobuf\""));
  EXPECT_THAT(seen, HasSubstr(absl::StrCat("\"message_id\": \"", id, "\"")));
  EXPECT_THAT(seen, HasSubstr(absl::StrCat("\"event_id\": \"", id, "\"")));
  EXPECT_THAT(seen, HasSubstr("\"type\": \"kytos/topology.link_down\""));
  EXPECT_THAT(seen, HasSubstr("\"app_id\": \"kytos/topology\""));
  EXPECT_THAT(seen, HasSubstr("\"delivery_mode\": 2"));
  EXPECT_THAT(seen, HasSubstr("\"schema\": \"switchboard.v1.Event\""));
  EXPECT_THAT(seen, HasSubstr("\"link_state\": \"DOWN\""));
  EXPECT_THAT(seen, HasSubstr("\"link_id\": \"s1:eth1-s2:eth1\""));
  EXPECT_THAT(seen, HasSubstr("\"attribute\": \"kytos-1\""));
  EXPECT_THAT(seen, ::testing::Not(HasSubstr("\"timestamp\": 0")));
  // pika acked it: the queue is empty.
  EXPECT_TRUE(Eventually([&] {
    auto q = ListQueues((*cluster)->consumer_address());
    if (!q.ok()) return false;
    for (const auto& queue : q->queues()) {
      if (queue.name() == "app.kytos.topology") return queue.depth() == 0;
    }
    return false;
  }));
}

}  // namespace
}  // namespace switchboard::testing
