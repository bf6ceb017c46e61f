#include "services/mq-bridge/transport/zeromq/zeromq_wire.h"

#include "absl/strings/str_cat.h"
#include "services/common/queue_name.h"

namespace switchboard::bridge::zeromq {
namespace {

void PutBigEndian(uint64_t value, char* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
}

uint64_t GetBigEndian(const char* in) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) {
    value = (value << 8) | static_cast<unsigned char>(in[i]);
  }
  return value;
}

}  // namespace

std::string EncodeHeader(const WireHeader& header) {
  std::string bytes(kHeaderSize, '\0');
  bytes[0] = kProtocolVersion;
  bytes[1] = header.last_value ? kFlagLastValue : 0;
  PutBigEndian(header.publisher_id, &bytes[2]);
  PutBigEndian(header.seq, &bytes[10]);
  return bytes;
}

absl::StatusOr<WireHeader> DecodeHeader(absl::string_view bytes) {
  if (bytes.size() != kHeaderSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "zeromq header: ", bytes.size(), " bytes, expected ", kHeaderSize));
  }
  if (bytes[0] != kProtocolVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("zeromq header: protocol version ",
                     static_cast<int>(static_cast<unsigned char>(bytes[0])),
                     ", expected ", static_cast<int>(kProtocolVersion)));
  }
  WireHeader header;
  header.last_value = (bytes[1] & kFlagLastValue) != 0;
  header.publisher_id = GetBigEndian(bytes.data() + 2);
  header.seq = GetBigEndian(bytes.data() + 10);
  return header;
}

absl::StatusOr<WireHeader> DecodeMessageHeader(
    absl::Span<const std::string> frames) {
  if (frames.size() <= kHeaderFrame) {
    return absl::InvalidArgumentError(
        absl::StrCat("zeromq message: ", frames.size(),
                     " frames, expected a header in frame ", kHeaderFrame));
  }
  return DecodeHeader(frames[kHeaderFrame]);
}

bool IsControlMessage(absl::Span<const std::string> frames) {
  return !frames.empty() && frames[kTopicFrame].empty();
}

absl::Status ValidateDataMessage(absl::Span<const std::string> frames) {
  if (frames.size() != kDataFrames) {
    return absl::InvalidArgumentError(
        absl::StrCat("zeromq data message: ", frames.size(),
                     " frames, expected ", kDataFrames));
  }
  if (absl::Status s = ValidateQueueName(frames[kTopicFrame]); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("zeromq data message: ", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace switchboard::bridge::zeromq
