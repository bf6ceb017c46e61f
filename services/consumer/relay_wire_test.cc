// relay::SubscribeResponse must stay readable as
// switchboard.v1.SubscribeResponse: apps parse what the consumer writes
// with the public type.
#include <string>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "services/consumer/relay.pb.h"
#include "switchboard/v1/consumer.pb.h"

namespace switchboard::consumer {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// Every field of `relay` has a public twin with the same name, number,
// cardinality and wire type, and the other way round; `event` is bytes
// in the relay type and a message in the public one (both
// length-delimited).
void ExpectMirrors(const Descriptor& relay, const Descriptor& pub) {
  ASSERT_EQ(relay.field_count(), pub.field_count()) << pub.full_name();
  for (int i = 0; i < pub.field_count(); ++i) {
    const FieldDescriptor* p = pub.field(i);
    const FieldDescriptor* r = relay.FindFieldByNumber(p->number());
    ASSERT_NE(r, nullptr) << pub.full_name() << "." << p->name();
    EXPECT_EQ(r->name(), p->name());
    EXPECT_EQ(r->label(), p->label()) << p->name();
    if (p->type() == FieldDescriptor::TYPE_MESSAGE &&
        r->type() == FieldDescriptor::TYPE_MESSAGE) {
      ExpectMirrors(*r->message_type(), *p->message_type());
    } else if (p->type() == FieldDescriptor::TYPE_MESSAGE) {
      EXPECT_EQ(p->full_name(), "switchboard.v1.EventDelivery.event");
      EXPECT_EQ(r->type(), FieldDescriptor::TYPE_BYTES);
    } else {
      EXPECT_EQ(r->type(), p->type()) << p->name();
    }
  }
}

TEST(RelayWireTest, FieldsMirrorThePublicTypes) {
  ExpectMirrors(*relay::SubscribeResponse::descriptor(),
                *switchboard::v1::SubscribeResponse::descriptor());
}

TEST(RelayWireTest, AppsReadTheRelayEncodingAsTheirs) {
  switchboard::v1::Event event;
  event.set_id("id-1");
  event.set_source("kytos/of_core");
  event.set_type("link.status");
  event.mutable_time()->set_seconds(1700000000);
  event.mutable_link_status()->set_link_id("l1");
  (*event.mutable_attributes())["k"] = "v";

  relay::SubscribeResponse relay;
  relay::EventDelivery* d = relay.add_deliveries();
  d->set_tag(7);
  d->set_queue("app.x");
  d->set_event(event.SerializeAsString());
  d->set_redelivered(true);
  d->set_delivery_count(2);
  relay.add_stale_tags(3);

  switchboard::v1::SubscribeResponse expected;
  switchboard::v1::EventDelivery* e = expected.add_deliveries();
  e->set_tag(7);
  e->set_queue("app.x");
  *e->mutable_event() = event;
  e->set_redelivered(true);
  e->set_delivery_count(2);
  expected.add_stale_tags(3);

  switchboard::v1::SubscribeResponse read;
  ASSERT_TRUE(read.ParseFromString(relay.SerializeAsString()));
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(read, expected))
      << read.DebugString();
  // And byte for byte what the public type would have written.
  EXPECT_EQ(relay.SerializeAsString(), expected.SerializeAsString());
}

}  // namespace
}  // namespace switchboard::consumer
