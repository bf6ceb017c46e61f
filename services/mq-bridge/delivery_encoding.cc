#include "services/mq-bridge/delivery_encoding.h"

#include <grpc/slice.h>
#include <grpcpp/support/slice.h>

#include <cstdint>
#include <string>

#include "google/protobuf/wire_format_lite.h"
#include "switchboard/v1/bridge.pb.h"

namespace switchboard::bridge {
namespace {

using google::protobuf::internal::WireFormatLite;
using switchboard::v1::ConsumeResponse;
using switchboard::v1::Delivery;
using V1Delivery = switchboard::v1::Delivery;

// Field numbers, from the generated code so that they cannot drift.
constexpr int kDeliveries = ConsumeResponse::kDeliveriesFieldNumber;
constexpr int kTag = V1Delivery::kTagFieldNumber;
constexpr int kQueue = V1Delivery::kQueueFieldNumber;
constexpr int kId = V1Delivery::kIdFieldNumber;
constexpr int kEvent = V1Delivery::kEventFieldNumber;
constexpr int kRedelivered = V1Delivery::kRedeliveredFieldNumber;
constexpr int kDeliveryCount = V1Delivery::kDeliveryCountFieldNumber;

// Tags of fields numbered below 16 take one byte.
static_assert(kDeliveryCount < 16 && kDeliveries < 16);

size_t StringFieldSize(const std::string& s) {
  return s.empty() ? 0 : 1 + WireFormatLite::StringSize(s);
}

// The serialized size of one delivery's fields (proto3: defaults are not
// written).
size_t DeliverySize(const bridge::Delivery& d) {
  size_t size = 0;
  if (d.tag != 0) size += 1 + WireFormatLite::UInt64Size(d.tag);
  size += StringFieldSize(d.queue) + StringFieldSize(d.id);
  if (d.payload != nullptr) size += StringFieldSize(*d.payload);
  if (d.redelivered) size += 2;
  if (d.delivery_count != 0) {
    size += 1 + WireFormatLite::UInt32Size(d.delivery_count);
  }
  return size;
}

uint8_t* WriteDelivery(const bridge::Delivery& d, uint8_t* p) {
  if (d.tag != 0) p = WireFormatLite::WriteUInt64ToArray(kTag, d.tag, p);
  if (!d.queue.empty()) {
    p = WireFormatLite::WriteStringToArray(kQueue, d.queue, p);
  }
  if (!d.id.empty()) p = WireFormatLite::WriteStringToArray(kId, d.id, p);
  if (d.payload != nullptr && !d.payload->empty()) {
    p = WireFormatLite::WriteBytesToArray(kEvent, *d.payload, p);
  }
  if (d.redelivered)
    p = WireFormatLite::WriteBoolToArray(kRedelivered, true, p);
  if (d.delivery_count != 0) {
    p = WireFormatLite::WriteUInt32ToArray(kDeliveryCount, d.delivery_count, p);
  }
  return p;
}

}  // namespace

grpc::ByteBuffer EncodeConsumeResponse(
    absl::Span<const bridge::Delivery> batch) {
  size_t total = 0;
  for (const bridge::Delivery& d : batch) {
    const size_t size = DeliverySize(d);
    total += 1 + WireFormatLite::UInt32Size(static_cast<uint32_t>(size)) + size;
  }
  grpc_slice slice = grpc_slice_malloc(total);
  uint8_t* p = GRPC_SLICE_START_PTR(slice);
  for (const bridge::Delivery& d : batch) {
    p = WireFormatLite::WriteTagToArray(
        kDeliveries, WireFormatLite::WIRETYPE_LENGTH_DELIMITED, p);
    p = google::protobuf::io::CodedOutputStream::WriteVarint32ToArray(
        static_cast<uint32_t>(DeliverySize(d)), p);
    p = WriteDelivery(d, p);
  }
  grpc::Slice owned(slice, grpc::Slice::STEAL_REF);
  return grpc::ByteBuffer(&owned, 1);
}

}  // namespace switchboard::bridge
