#include "services/common/wire/wire_check.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/stubs/common.h"
#include "google/protobuf/wire_format_lite.h"

namespace switchboard::wire {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;
using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;

// The generated parser's default recursion limit.
constexpr int kMaxDepth = 100;

// Where a check failed: the field path, built only on failure.
struct Failure {
  std::string path;
  std::string why;
};

// The wire type `field` is written with when not packed.
WireFormatLite::WireType WireTypeOf(const FieldDescriptor& field) {
  return WireFormatLite::WireTypeForFieldType(
      static_cast<WireFormatLite::FieldType>(field.type()));
}

// Reads the packed payload (already limited) of a repeated scalar field.
bool CheckPacked(const FieldDescriptor& field, CodedInputStream* in,
                 int length) {
  switch (WireTypeOf(field)) {
    case WireFormatLite::WIRETYPE_VARINT:
      while (in->BytesUntilLimit() > 0) {
        uint64_t ignored;
        if (!in->ReadVarint64(&ignored)) return false;
      }
      return true;
    case WireFormatLite::WIRETYPE_FIXED32:
      return length % 4 == 0 && in->Skip(length);
    case WireFormatLite::WIRETYPE_FIXED64:
      return length % 8 == 0 && in->Skip(length);
    default:
      return false;
  }
}

bool Check(const Descriptor& type, absl::string_view bytes, int depth,
           Failure* failure);

// One length-delimited value of a known field.
bool CheckLengthDelimited(const FieldDescriptor& field, absl::string_view value,
                          int depth, Failure* failure) {
  switch (field.type()) {
    case FieldDescriptor::TYPE_STRING:
      if (field.file()->syntax() == FileDescriptor::SYNTAX_PROTO3 &&
          !google::protobuf::internal::IsStructurallyValidUTF8(
              value.data(), static_cast<int>(value.size()))) {
        failure->path = field.name();
        failure->why = "invalid UTF-8";
        return false;
      }
      return true;
    case FieldDescriptor::TYPE_BYTES:
      return true;
    case FieldDescriptor::TYPE_MESSAGE:
      if (depth + 1 > kMaxDepth) {
        failure->path = field.name();
        failure->why = "nested too deep";
        return false;
      }
      if (!Check(*field.message_type(), value, depth + 1, failure)) {
        failure->path = failure->path.empty()
                            ? std::string(field.name())
                            : absl::StrCat(field.name(), ".", failure->path);
        return false;
      }
      return true;
    default: {
      // A packed repeated scalar.
      CodedInputStream packed(reinterpret_cast<const uint8_t*>(value.data()),
                              static_cast<int>(value.size()));
      if (!field.is_repeated() ||
          !CheckPacked(field, &packed, static_cast<int>(value.size()))) {
        failure->path = field.name();
        failure->why = "malformed packed field";
        return false;
      }
      return true;
    }
  }
}

bool Check(const Descriptor& type, absl::string_view bytes, int depth,
           Failure* failure) {
  CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                      static_cast<int>(bytes.size()));
  for (;;) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) {
      // The end, or a malformed tag.
      if (in.ConsumedEntireMessage()) return true;
      failure->why =
          absl::StrCat("malformed tag at byte ", in.CurrentPosition());
      return false;
    }
    const int number = WireFormatLite::GetTagFieldNumber(tag);
    const auto wire_type = WireFormatLite::GetTagWireType(tag);
    if (number == 0 || wire_type == WireFormatLite::WIRETYPE_END_GROUP) {
      failure->why =
          absl::StrCat("malformed tag at byte ", in.CurrentPosition());
      return false;
    }
    const FieldDescriptor* field = type.FindFieldByNumber(number);
    if (field != nullptr &&
        wire_type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED &&
        (WireTypeOf(*field) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED ||
         field->is_packable())) {
      uint32_t length;
      if (!in.ReadVarint32(&length) ||
          length > static_cast<uint32_t>(bytes.size() - in.CurrentPosition())) {
        failure->path = field->name();
        failure->why = "length past the end";
        return false;
      }
      const absl::string_view value =
          bytes.substr(in.CurrentPosition(), length);
      if (!CheckLengthDelimited(*field, value, depth, failure)) {
        return false;
      }
      in.Skip(static_cast<int>(length));
      continue;
    }
    // Scalars of known fields, and unknown fields: well-formed is enough.
    if (!WireFormatLite::SkipField(&in, tag)) {
      failure->path =
          field != nullptr ? std::string(field->name()) : absl::StrCat(number);
      failure->why = "malformed value";
      return false;
    }
  }
}

}  // namespace

absl::Status CheckMessage(const Descriptor& type, absl::string_view bytes) {
  Failure failure;
  if (Check(type, bytes, 0, &failure)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "not a valid ", type.full_name(),
      failure.path.empty() ? "" : absl::StrCat(": field ", failure.path), ": ",
      failure.why));
}

absl::optional<int64_t> TimestampNanos(absl::string_view bytes,
                                       int field_number) {
  CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                      static_cast<int>(bytes.size()));
  bool found = false;
  int64_t seconds = 0;
  int32_t nanos = 0;
  for (uint32_t tag = in.ReadTag(); tag != 0; tag = in.ReadTag()) {
    if (tag != WireFormatLite::MakeTag(
                   field_number, WireFormatLite::WIRETYPE_LENGTH_DELIMITED)) {
      if (!WireFormatLite::SkipField(&in, tag)) return absl::nullopt;
      continue;
    }
    uint32_t length;
    if (!in.ReadVarint32(&length)) return absl::nullopt;
    const auto limit = in.PushLimit(static_cast<int>(length));
    for (uint32_t inner = in.ReadTag(); inner != 0; inner = in.ReadTag()) {
      uint64_t value;
      if (WireFormatLite::GetTagWireType(inner) ==
              WireFormatLite::WIRETYPE_VARINT &&
          WireFormatLite::GetTagFieldNumber(inner) <= 2) {
        if (!in.ReadVarint64(&value)) return absl::nullopt;
        if (WireFormatLite::GetTagFieldNumber(inner) == 1) {
          seconds = static_cast<int64_t>(value);
        } else {
          nanos = static_cast<int32_t>(value);
        }
      } else if (!WireFormatLite::SkipField(&in, inner)) {
        return absl::nullopt;
      }
    }
    if (!in.ConsumedEntireMessage()) return absl::nullopt;
    in.PopLimit(limit);
    found = true;
  }
  if (!found || !in.ConsumedEntireMessage()) return absl::nullopt;
  return seconds * int64_t{1000000000} + nanos;
}

}  // namespace switchboard::wire
