#include "services/mq-bridge/delivery_encoding.h"

#include <memory>
#include <string>
#include <vector>

#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "switchboard/v1/bridge.pb.h"

namespace switchboard::bridge {
namespace {

std::string Flatten(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  std::string out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

// What the generated code writes for the same deliveries.
std::string Generated(const std::vector<Delivery>& batch) {
  switchboard::v1::ConsumeResponse response;
  for (const Delivery& d : batch) {
    auto* out = response.add_deliveries();
    out->set_tag(d.tag);
    out->set_queue(d.queue);
    out->set_id(d.id);
    if (d.payload != nullptr) out->set_event(*d.payload);
    out->set_redelivered(d.redelivered);
    out->set_delivery_count(d.delivery_count);
  }
  return response.SerializeAsString();
}

TEST(DeliveryEncodingTest, WritesWhatTheGeneratedCodeWrites) {
  std::vector<Delivery> batch;
  // Field values around the varint boundaries, defaults (left out on the
  // wire), long and binary payloads.
  const uint64_t tags[] = {
      0, 1, 127, 128, 16383, 16384, uint64_t{1} << 40, ~uint64_t{0}};
  int i = 0;
  for (uint64_t tag : tags) {
    Delivery d;
    d.tag = tag;
    d.queue = i % 3 == 0 ? "" : "app.kytos.topology";
    d.id = i % 4 == 1
               ? ""
               : "00000000-0000-4000-8000-00000000000" + std::to_string(i % 10);
    d.payload = std::make_shared<const std::string>(
        i % 2 == 0 ? std::string(i * 100, static_cast<char>(0x80 + i))
                   : std::string("\0\x01\xff", 3));
    d.redelivered = i % 2 == 1;
    d.delivery_count = i == 0 ? 0 : (i == 7 ? 300 : i);
    batch.push_back(std::move(d));
    ++i;
  }
  batch.push_back(Delivery{});  // every field at its default
  EXPECT_EQ(Flatten(EncodeConsumeResponse(batch)), Generated(batch));

  switchboard::v1::ConsumeResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(Flatten(EncodeConsumeResponse(batch))));
  ASSERT_EQ(parsed.deliveries_size(), static_cast<int>(batch.size()));
  EXPECT_EQ(parsed.deliveries(7).tag(), ~uint64_t{0});
  EXPECT_EQ(parsed.deliveries(7).delivery_count(), 300u);
  EXPECT_EQ(parsed.deliveries(2).event(), *batch[2].payload);
}

TEST(DeliveryEncodingTest, AnEmptyBatchIsAnEmptyResponse) {
  EXPECT_EQ(Flatten(EncodeConsumeResponse({})), "");
}

}  // namespace
}  // namespace switchboard::bridge
