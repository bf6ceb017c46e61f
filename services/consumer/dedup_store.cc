#include "services/consumer/dedup_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "services/common/logging.h"

namespace switchboard::consumer {
namespace {

constexpr char kFileName[] = "dedup.log";
constexpr size_t kHeader = 8;
// Larger payloads cannot be records (queue names are short).
constexpr uint32_t kMaxPayload = 4096;

// CRC-32 (IEEE 802.3, zlib's), table-driven.
uint32_t Crc32(absl::string_view data, uint32_t crc = 0) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (unsigned char b : data) crc = table[(crc ^ b) & 0xff] ^ (crc >> 8);
  return ~crc;
}

void PutLe(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i)
    out->push_back(static_cast<char>(v >> (8 * i)));
}

uint64_t GetLe(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    v |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  }
  return v;
}

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::InternalError(
      absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::Status WriteFully(int fd, absl::string_view data,
                        const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("writing", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

std::string EncodeDedupRecord(absl::string_view queue, DedupStore::Key key) {
  std::string payload;
  PutLe(&payload, queue.size(), 2);
  payload.append(queue.data(), queue.size());
  PutLe(&payload, key.first, 8);
  PutLe(&payload, key.second, 8);
  std::string length;
  PutLe(&length, payload.size(), 4);
  std::string record = length;
  PutLe(&record, Crc32(payload, Crc32(length)), 4);
  record += payload;
  return record;
}

absl::StatusOr<std::unique_ptr<DedupStore>> DedupStore::Open(
    const std::string& directory, size_t window) {
  std::unique_ptr<DedupStore> store(
      new DedupStore(absl::StrCat(directory, "/", kFileName), window));
  absl::MutexLock lock(&store->mu_);
  if (absl::Status s = store->LoadLocked(); !s.ok()) return s;
  return store;
}

DedupStore::~DedupStore() {
  absl::MutexLock lock(&mu_);
  if (!pending_.empty()) {
    WriteFully(fd_, pending_, path_).IgnoreError();
  }
  if (fd_ >= 0) ::close(fd_);
}

absl::Status DedupStore::LoadLocked() {
  std::string data;
  {
    std::ifstream in(path_, std::ios::binary);
    if (in) {
      std::ostringstream buffer;
      buffer << in.rdbuf();
      data = buffer.str();
    }
  }
  size_t pos = 0;
  while (pos < data.size()) {
    const size_t left = data.size() - pos;
    const char* p = data.data() + pos;
    const uint32_t length = left >= kHeader ? GetLe(p, 4) : 0;
    if (left < kHeader || (length <= kMaxPayload && left < kHeader + length)) {
      ++stats_.torn_tails;
      break;
    }
    const uint32_t crc = GetLe(p + 4, 4);
    absl::string_view payload(p + kHeader, length <= kMaxPayload ? length : 0);
    const size_t queue_length =
        payload.size() >= 2 ? GetLe(payload.data(), 2) : payload.size();
    if (length > kMaxPayload ||
        crc != Crc32(payload, Crc32(absl::string_view(p, 4))) ||
        payload.size() != 2 + queue_length + 16) {
      ++stats_.corrupt_records;
      break;
    }
    const char* k = payload.data() + 2 + queue_length;
    RememberLocked(std::string(payload.substr(2, queue_length)),
                   Key{GetLe(k, 8), GetLe(k + 8, 8)});
    ++stats_.loaded;
    pos += kHeader + length;
  }
  file_records_ = stats_.loaded;
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) return Errno("opening", path_);
  if (pos < data.size()) {
    Logger("consumer")
        ->warn(
            "{}: {} at byte {} of {}; the log is truncated there (ids "
            "after it are forgotten: their events may reach an app twice)",
            path_,
            stats_.torn_tails > 0 ? "torn tail (a write cut short)"
                                  : "corrupt record",
            pos, data.size());
    if (::ftruncate(fd_, static_cast<off_t>(pos)) != 0) {
      return Errno("truncating", path_);
    }
  }
  // A log well past its bound (a smaller window than last time) shrinks now.
  if (file_records_ > 2 * std::max<size_t>(kept_, window_)) {
    return CompactLocked();
  }
  return absl::OkStatus();
}

void DedupStore::RememberLocked(const std::string& queue, Key key) {
  std::deque<Key>& keys = keys_[queue];
  keys.push_back(key);
  ++kept_;
  if (keys.size() > window_) {
    keys.pop_front();
    --kept_;
  }
}

absl::flat_hash_map<std::string, std::vector<DedupStore::Key>>
DedupStore::Loaded() const {
  absl::MutexLock lock(&mu_);
  absl::flat_hash_map<std::string, std::vector<Key>> out;
  for (const auto& [queue, keys] : keys_) {
    out[queue].assign(keys.begin(), keys.end());
  }
  return out;
}

void DedupStore::Append(absl::string_view queue, Key key) {
  absl::MutexLock lock(&mu_);
  pending_ += EncodeDedupRecord(queue, key);
  RememberLocked(std::string(queue), key);
  ++file_records_;
}

absl::Status DedupStore::Flush() {
  absl::MutexLock lock(&mu_);
  if (pending_.empty()) return absl::OkStatus();
  absl::Status s = WriteFully(fd_, pending_, path_);
  pending_.clear();
  if (s.ok() && file_records_ > 2 * std::max<size_t>(kept_, window_)) {
    s = CompactLocked();
  }
  if (!s.ok()) {
    ++stats_.write_errors;
    Logger("consumer")->error("dedup store: {}", s.ToString());
  }
  return s;
}

absl::Status DedupStore::CompactLocked() {
  const std::string tmp = path_ + ".tmp";
  std::string data;
  data.reserve(kept_ * 48);
  for (const auto& [queue, keys] : keys_) {
    for (const Key& key : keys) data += EncodeDedupRecord(queue, key);
  }
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("opening", tmp);
  absl::Status s = WriteFully(fd, data, tmp);
  ::close(fd);
  if (!s.ok()) return s;
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    return Errno("renaming over", path_);
  }
  int reopened = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (reopened < 0) return Errno("opening", path_);
  ::close(fd_);
  fd_ = reopened;
  file_records_ = kept_;
  ++stats_.compactions;
  return absl::OkStatus();
}

DedupStore::Stats DedupStore::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace switchboard::consumer
