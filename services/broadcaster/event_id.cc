#include "services/broadcaster/event_id.h"

#include <cstdint>

#include "absl/random/random.h"

namespace switchboard::broadcaster {

std::string NewEventId() {
  thread_local absl::BitGen gen;
  uint64_t hi = absl::Uniform<uint64_t>(gen);
  uint64_t lo = absl::Uniform<uint64_t>(gen);
  hi = (hi & ~uint64_t{0xF000}) | 0x4000;                      // version 4
  lo = (lo & ~(uint64_t{0xC} << 60)) | (uint64_t{0x8} << 60);  // variant 1
  // "%08x-%04x-%04x-%04x-%012x" of hi and lo, without a format parse
  // per event.
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(36, '-');
  int at = 0;
  for (int nibble = 15; nibble >= 0; --nibble) {
    if (at == 8 || at == 13) ++at;
    id[at++] = kHex[(hi >> (4 * nibble)) & 0xF];
  }
  for (int nibble = 15; nibble >= 0; --nibble) {
    if (at == 18 || at == 23) ++at;
    id[at++] = kHex[(lo >> (4 * nibble)) & 0xF];
  }
  return id;
}

}  // namespace switchboard::broadcaster
