#ifndef SWITCHBOARD_SERVICES_BROADCASTER_DISK_LOG_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_DISK_LOG_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "switchboard/v1/bridge.pb.h"

namespace switchboard::broadcaster {

// When appended records are forced to disk.
enum class FsyncPolicy {
  // Before the producer's batch is answered: an accepted event survives a
  // crash of the machine, not only of the process.
  kBatch,
  // At most `fsync_interval` after it was appended (a machine crash loses
  // up to that much; a process crash nothing).
  kInterval,
  // When the kernel writes it back (a process crash loses nothing, a
  // machine crash what was not yet written).
  kNever,
};

// "batch", "interval", "never"; InvalidArgument listing them otherwise.
absl::StatusOr<FsyncPolicy> ParseFsyncPolicy(const std::string& text);

// The broadcaster's disk buffer: an append-only log of routed events in a
// directory, as segment files of records
//   [u32 payload length][u32 crc32 of seq and payload][u64 seq][payload]
// (little-endian; the payload is a serialized RoutedEvent), and a
// checkpoint file holding the first sequence number not yet settled.
// Records are read back in order (Next) and settled (confirmed by the
// bridge, or dropped) in any order; segments whose records are all settled
// are deleted. Open recovers after any stop, kill -9 included: a torn or
// corrupt record ends its segment there (the file is truncated, the rest
// counted as lost), and every record from the checkpoint on is read again.
// A record settled after the last checkpoint write is read again too (at
// least once; the consumer's duplicate window drops the copy).
//
// Not thread-safe: the EventBuffer calls it under its lock.
class DiskLog {
 public:
  struct Options {
    // The directory, created if absent (one broadcaster per directory).
    std::string path;
    // A new segment file starts past this size.
    uint64_t segment_bytes = uint64_t{64} << 20;
    FsyncPolicy fsync = FsyncPolicy::kBatch;
    absl::Duration fsync_interval = absl::Seconds(1);
    // What a recovered event costs against the buffer's limits.
    std::function<uint64_t(const switchboard::v1::RoutedEvent&)> cost;
  };

  // What Open found.
  struct Recovery {
    // Records not settled before the stop, to be forwarded again.
    uint64_t events = 0;
    // Their EventBuffer::Cost.
    uint64_t cost = 0;
    // Records cut off: a torn tail (the crash interrupted a write) or a
    // corrupt record, and those after it in its segment.
    uint64_t lost_records = 0;
    // Bytes truncated away.
    uint64_t lost_bytes = 0;
  };

  struct Record {
    uint64_t seq = 0;
    switchboard::v1::RoutedEvent event;
  };

  static absl::StatusOr<std::unique_ptr<DiskLog>> Open(Options options);
  // Writes the checkpoint.
  ~DiskLog();

  const Recovery& recovery() const { return recovery_; }
  const Options& options() const { return options_; }

  // Appends events[begin, end) as records with consecutive sequence numbers;
  // returns the first. Written, not yet forced to disk: see Commit. On an
  // error (disk full, I/O) nothing of the call counts as appended.
  absl::StatusOr<uint64_t> Append(
      absl::Span<const switchboard::v1::RoutedEvent> events);
  // Forces what was appended to disk as the fsync policy says.
  absl::Status Commit();

  // The next record not yet read, in append order; false when there is
  // none.
  absl::StatusOr<bool> Next(Record* out);
  // Records appended (or recovered) and not yet read.
  uint64_t unread() const { return next_seq_ - read_seq_; }

  // Done with `seq` (confirmed, or dropped): it is not read again after a
  // restart, once the checkpoint has passed it.
  void Settle(uint64_t seq);
  // The first sequence number not yet settled.
  uint64_t low() const { return low_; }
  // Writes the checkpoint now and deletes the segments it settles (Settle
  // does both at most every 100 ms).
  absl::Status Checkpoint();
  // Segment files now, for tests and stats.
  size_t segments() const { return segments_.size(); }

 private:
  struct Segment {
    uint64_t first_seq = 0;
    std::string path;
    uint64_t size = 0;
  };

  explicit DiskLog(Options options) : options_(std::move(options)) {}
  // What Recover learns while it reads the segments in order.
  struct ScanState {
    // Records below it were forwarded before the stop.
    uint64_t checkpoint = 0;
    // The next record's sequence number; 0 after a cut (any).
    uint64_t expected = 0;
    // The highest sequence number of a good record.
    uint64_t last_good = 0;
    // Whether the first record to forward again was seen.
    bool read_found = false;
  };
  // Reads the segments back at open: the checkpoint, then every record in
  // order; the first bad record of a segment truncates it there.
  absl::Status Recover();
  uint64_t ReadCheckpoint() const;
  absl::Status ListSegments();
  absl::Status ScanSegment(size_t index, ScanState& scan);
  absl::Status StartSegment(uint64_t first_seq);
  absl::Status WriteCheckpoint();
  void DeleteSettledSegments();

  const Options options_;
  Recovery recovery_;
  std::deque<Segment> segments_;
  // The last segment, open for appending.
  int write_fd_ = -1;
  // The segment being read and the offset of the next record in it.
  size_t read_segment_ = 0;
  uint64_t read_offset_ = 0;
  int read_fd_ = -1;
  uint64_t next_seq_ = 1;
  uint64_t read_seq_ = 1;
  uint64_t low_ = 1;
  uint64_t checkpointed_ = 0;
  absl::flat_hash_set<uint64_t> settled_;
  bool dirty_ = false;
  absl::Time last_sync_ = absl::InfinitePast();
  absl::Time last_checkpoint_ = absl::InfinitePast();
};

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_DISK_LOG_H_
