#include "services/broadcaster/disk_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "services/common/logging.h"
#include "services/common/status_macros.h"

namespace switchboard::broadcaster {
namespace {

using switchboard::v1::RoutedEvent;

constexpr size_t kHeaderBytes = 16;
// A larger length field can only be corruption (events are far smaller).
constexpr uint32_t kMaxRecordBytes = 64u << 20;
constexpr char kSegmentSuffix[] = ".seg";
constexpr char kCheckpoint[] = "checkpoint";
// How often a moving low watermark is written (a stale one only means
// records read again after a restart).
constexpr absl::Duration kCheckpointEvery = absl::Milliseconds(100);

void PutU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void PutU64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

uint32_t Checksum(uint64_t seq, const char* payload, size_t size) {
  char s[8];
  PutU64(s, seq);
  uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(s), 8);
  // (zlib treats a null buffer as "return the initial value".)
  if (size == 0) return static_cast<uint32_t>(crc);
  return static_cast<uint32_t>(
      crc32(crc, reinterpret_cast<const Bytef*>(payload), size));
}

absl::Status Errno(absl::string_view what, const std::string& path) {
  const int e = errno;
  const std::string message =
      absl::StrCat("disk buffer: ", what, " ", path, ": ", std::strerror(e));
  return e == ENOSPC || e == EDQUOT ? absl::ResourceExhaustedError(message)
                                    : absl::UnavailableError(message);
}

// Reads exactly `size` bytes at `offset`; false at end of file or error.
bool ReadAt(int fd, char* out, size_t size, uint64_t offset) {
  while (size > 0) {
    const ssize_t n = ::pread(fd, out, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    out += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

std::string SegmentName(uint64_t first_seq) {
  return absl::StrFormat("%020d%s", first_seq, kSegmentSuffix);
}

}  // namespace

absl::StatusOr<FsyncPolicy> ParseFsyncPolicy(const std::string& text) {
  if (text == "batch") return FsyncPolicy::kBatch;
  if (text == "interval") return FsyncPolicy::kInterval;
  if (text == "never") return FsyncPolicy::kNever;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown fsync policy '", text, "' (known: batch, interval, never)"));
}

absl::StatusOr<std::unique_ptr<DiskLog>> DiskLog::Open(Options options) {
  if (options.path.empty()) {
    return absl::InvalidArgumentError("disk buffer: the path is empty");
  }
  std::error_code error;
  std::filesystem::create_directories(options.path, error);
  if (error) {
    return absl::FailedPreconditionError(absl::StrCat(
        "disk buffer: cannot create ", options.path, ": ", error.message()));
  }
  std::unique_ptr<DiskLog> log(new DiskLog(std::move(options)));
  if (absl::Status s = log->Recover(); !s.ok()) return s;
  return log;
}

DiskLog::~DiskLog() {
  if (write_fd_ >= 0) {
    if (options_.fsync != FsyncPolicy::kNever) ::fdatasync(write_fd_);
    ::close(write_fd_);
  }
  if (read_fd_ >= 0) ::close(read_fd_);
  (void)WriteCheckpoint();
}

namespace {

// One record read back at `offset` of a segment `size` bytes long: its
// sequence number, length and event; false when the bytes there are not a
// whole, intact record following `expected` (0: any sequence number).
bool ReadRecord(int fd, uint64_t size, uint64_t offset, uint64_t expected,
                uint64_t* seq, uint32_t* length, RoutedEvent* event) {
  char header[kHeaderBytes];
  if (size - offset < kHeaderBytes ||
      !ReadAt(fd, header, kHeaderBytes, offset)) {
    return false;
  }
  *length = GetU32(header);
  *seq = GetU64(header + 8);
  if (*length > kMaxRecordBytes || size - offset - kHeaderBytes < *length) {
    return false;
  }
  std::string payload(*length, '\0');
  return ReadAt(fd, payload.data(), *length, offset + kHeaderBytes) &&
         Checksum(*seq, payload.data(), *length) == GetU32(header + 4) &&
         (expected == 0 || *seq == expected) && event->ParseFromString(payload);
}

}  // namespace

absl::Status DiskLog::Recover() {
  ScanState scan;
  scan.checkpoint = ReadCheckpoint();
  SB_RETURN_IF_ERROR(ListSegments());
  for (size_t i = 0; i < segments_.size(); ++i) {
    SB_RETURN_IF_ERROR(ScanSegment(i, scan));
  }
  next_seq_ = std::max<uint64_t>({scan.last_good + 1, scan.checkpoint, 1});
  if (!scan.read_found) {
    read_seq_ = next_seq_;
    read_segment_ = segments_.size();
    read_offset_ = 0;
  }
  // Segments wholly before the first record to forward are settled; an
  // empty one would clash with the new segment's name.
  while (!segments_.empty() && read_segment_ > 0) {
    ::unlink(segments_.front().path.c_str());
    segments_.pop_front();
    --read_segment_;
  }
  if (!segments_.empty() && segments_.back().size == 0) {
    ::unlink(segments_.back().path.c_str());
    segments_.pop_back();
  }
  if (read_segment_ > segments_.size()) read_segment_ = segments_.size();
  low_ = read_seq_;
  checkpointed_ = scan.checkpoint;
  SB_RETURN_IF_ERROR(StartSegment(next_seq_));
  if (recovery_.events > 0 || recovery_.lost_records > 0) {
    Logger("broadcaster")
        ->info(
            "disk buffer {}: {} events held before the stop are forwarded "
            "again{}",
            options_.path, recovery_.events,
            recovery_.lost_records > 0
                ? absl::StrCat("; ", recovery_.lost_bytes,
                               " bytes of torn or corrupt records truncated")
                : "");
  }
  return WriteCheckpoint();
}

uint64_t DiskLog::ReadCheckpoint() const {
  // The checkpoint: "<low> <crc32 of low>\n". Missing or unreadable means
  // every record is read again (duplicates, never losses).
  std::ifstream in(absl::StrCat(options_.path, "/", kCheckpoint));
  std::string line;
  if (!std::getline(in, line)) return 0;
  std::vector<std::string> parts = absl::StrSplit(line, ' ');
  uint64_t low = 0;
  uint32_t crc = 0;
  if (parts.size() == 2 && absl::SimpleAtoi(parts[0], &low) &&
      absl::SimpleAtoi(parts[1], &crc) && crc == Checksum(low, "", 0)) {
    return low;
  }
  Logger("broadcaster")
      ->warn(
          "disk buffer {}: unreadable checkpoint; every record is forwarded "
          "again",
          options_.path);
  return 0;
}

absl::Status DiskLog::ListSegments() {
  std::error_code error;
  for (const auto& entry :
       std::filesystem::directory_iterator(options_.path, error)) {
    const std::string name = entry.path().filename().string();
    const size_t suffix = std::strlen(kSegmentSuffix);
    if (name.size() != 20 + suffix || name.substr(20) != kSegmentSuffix) {
      continue;
    }
    uint64_t first = 0;
    if (!absl::SimpleAtoi(name.substr(0, 20), &first)) continue;
    segments_.push_back(Segment{first, entry.path().string(), 0});
  }
  if (error) {
    return absl::FailedPreconditionError(absl::StrCat(
        "disk buffer: cannot list ", options_.path, ": ", error.message()));
  }
  std::sort(segments_.begin(), segments_.end(),
            [](const Segment& a, const Segment& b) {
              return a.first_seq < b.first_seq;
            });
  return absl::OkStatus();
}

absl::Status DiskLog::ScanSegment(size_t index, ScanState& scan) {
  Segment& segment = segments_[index];
  const int fd = ::open(segment.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("opening", segment.path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return Errno("reading", segment.path);
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  uint64_t offset = 0;
  while (offset < size) {
    uint64_t seq = 0;
    uint32_t length = 0;
    RoutedEvent event;
    if (!ReadRecord(fd, size, offset, scan.expected, &seq, &length, &event)) {
      // A torn tail (the last segment: a write cut short by the crash)
      // or corruption: the rest of the segment cannot be trusted.
      ++recovery_.lost_records;
      recovery_.lost_bytes += size - offset;
      Logger("broadcaster")
          ->error(
              "disk buffer {}: {} at byte {} of {}; truncating the segment "
              "there ({} bytes)",
              options_.path,
              index + 1 == segments_.size() ? "torn record" : "corrupt record",
              offset, segment.path, size - offset);
      if (::truncate(segment.path.c_str(), static_cast<off_t>(offset)) != 0) {
        ::close(fd);
        return Errno("truncating", segment.path);
      }
      // The next segment's records are taken as they are.
      scan.expected = 0;
      break;
    }
    scan.expected = seq + 1;
    scan.last_good = seq;
    if (seq >= scan.checkpoint) {
      ++recovery_.events;
      if (options_.cost) recovery_.cost += options_.cost(event);
      if (!scan.read_found) {
        scan.read_found = true;
        read_segment_ = index;
        read_offset_ = offset;
        read_seq_ = seq;
      }
    }
    offset += kHeaderBytes + length;
  }
  ::close(fd);
  segment.size = offset;
  return absl::OkStatus();
}

absl::Status DiskLog::StartSegment(uint64_t first_seq) {
  Segment segment{first_seq,
                  absl::StrCat(options_.path, "/", SegmentName(first_seq)), 0};
  // O_EXCL: a segment of the same name holds records; never truncate one.
  const int fd =
      ::open(segment.path.c_str(),
             O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("creating", segment.path);
  if (write_fd_ >= 0) ::close(write_fd_);
  write_fd_ = fd;
  segments_.push_back(std::move(segment));
  if (options_.fsync != FsyncPolicy::kNever) {
    // The new file's directory entry, so a crash does not lose the file.
    const int dir = ::open(options_.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> DiskLog::Append(absl::Span<const RoutedEvent> events) {
  std::string buffer;
  std::string payload;
  for (size_t i = 0; i < events.size(); ++i) {
    const uint64_t seq = next_seq_ + i;
    payload.clear();
    events[i].SerializeToString(&payload);
    char header[kHeaderBytes];
    PutU32(header, static_cast<uint32_t>(payload.size()));
    PutU32(header + 4, Checksum(seq, payload.data(), payload.size()));
    PutU64(header + 8, seq);
    buffer.append(header, kHeaderBytes);
    buffer.append(payload);
  }
  Segment& segment = segments_.back();
  if (!WriteAll(write_fd_, buffer.data(), buffer.size())) {
    absl::Status error = Errno("writing", segment.path);
    // Nothing of this call stays: a partial record would end the segment
    // at the next recovery.
    if (::ftruncate(write_fd_, static_cast<off_t>(segment.size)) != 0) {
      Logger("broadcaster")
          ->error("disk buffer: cannot undo a partial write to {}",
                  segment.path);
    }
    return error;
  }
  segment.size += buffer.size();
  const uint64_t first = next_seq_;
  next_seq_ += events.size();
  dirty_ = true;
  if (segment.size >= options_.segment_bytes) {
    if (options_.fsync != FsyncPolicy::kNever && ::fdatasync(write_fd_) != 0) {
      return Errno("syncing", segment.path);
    }
    dirty_ = false;
    SB_RETURN_IF_ERROR(StartSegment(next_seq_));
  }
  return first;
}

absl::Status DiskLog::Commit() {
  if (!dirty_ || options_.fsync == FsyncPolicy::kNever) return absl::OkStatus();
  const absl::Time now = absl::Now();
  if (options_.fsync == FsyncPolicy::kInterval &&
      now - last_sync_ < options_.fsync_interval) {
    return absl::OkStatus();
  }
  if (::fdatasync(write_fd_) != 0) {
    return Errno("syncing", segments_.back().path);
  }
  dirty_ = false;
  last_sync_ = now;
  return absl::OkStatus();
}

absl::StatusOr<bool> DiskLog::Next(Record* out) {
  if (unread() == 0) return false;
  while (read_segment_ >= segments_.size() ||
         read_offset_ + kHeaderBytes > segments_[read_segment_].size) {
    if (read_segment_ + 1 >= segments_.size()) {
      return absl::DataLossError(absl::StrCat("disk buffer ", options_.path,
                                              ": record ", read_seq_,
                                              " is missing"));
    }
    ++read_segment_;
    read_offset_ = 0;
    if (read_fd_ >= 0) ::close(read_fd_);
    read_fd_ = -1;
  }
  const Segment& segment = segments_[read_segment_];
  if (read_fd_ < 0) {
    read_fd_ = ::open(segment.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (read_fd_ < 0) return Errno("opening", segment.path);
  }
  char header[kHeaderBytes];
  std::string payload;
  bool good = ReadAt(read_fd_, header, kHeaderBytes, read_offset_);
  const uint32_t length = good ? GetU32(header) : 0;
  if (good) {
    payload.resize(length);
    good =
        ReadAt(read_fd_, payload.data(), length, read_offset_ + kHeaderBytes) &&
        out->event.ParseFromString(payload);
  }
  if (!good) {
    return absl::DataLossError(
        absl::StrCat("disk buffer: cannot read record ", read_seq_, " at byte ",
                     read_offset_, " of ", segment.path));
  }
  out->seq = GetU64(header + 8);
  read_offset_ += kHeaderBytes + length;
  read_seq_ = out->seq + 1;
  return true;
}

void DiskLog::Settle(uint64_t seq) {
  if (seq < low_) return;
  settled_.insert(seq);
  const uint64_t before = low_;
  while (settled_.erase(low_) > 0) ++low_;
  if (low_ == before) return;
  const absl::Time now = absl::Now();
  if (now - last_checkpoint_ < kCheckpointEvery) return;
  if (absl::Status s = WriteCheckpoint(); !s.ok()) {
    Logger("broadcaster")->warn("{}", std::string(s.message()));
    return;
  }
  DeleteSettledSegments();
}

absl::Status DiskLog::Checkpoint() {
  SB_RETURN_IF_ERROR(WriteCheckpoint());
  DeleteSettledSegments();
  return absl::OkStatus();
}

absl::Status DiskLog::WriteCheckpoint() {
  const std::string path = absl::StrCat(options_.path, "/", kCheckpoint);
  const std::string tmp = path + ".tmp";
  const std::string text = absl::StrCat(low_, " ", Checksum(low_, "", 0), "\n");
  const int fd =
      ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("writing", tmp);
  const bool written = WriteAll(fd, text.data(), text.size());
  ::close(fd);
  if (!written || ::rename(tmp.c_str(), path.c_str()) != 0) {
    return Errno("writing", path);
  }
  checkpointed_ = low_;
  last_checkpoint_ = absl::Now();
  return absl::OkStatus();
}

void DiskLog::DeleteSettledSegments() {
  // A segment goes once the next one starts at or before the checkpoint
  // (so all of its records are settled, on disk too) and the reader has
  // moved past it.
  while (segments_.size() > 1 && read_segment_ > 0 &&
         segments_[1].first_seq <= checkpointed_) {
    ::unlink(segments_.front().path.c_str());
    segments_.pop_front();
    --read_segment_;
  }
}

}  // namespace switchboard::broadcaster
