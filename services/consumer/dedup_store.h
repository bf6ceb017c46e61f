#ifndef SWITCHBOARD_SERVICES_CONSUMER_DEDUP_STORE_H_
#define SWITCHBOARD_SERVICES_CONSUMER_DEDUP_STORE_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace switchboard::consumer {

// The acked event ids of each queue, on local disk, so that a consumer
// killed (kill -9) and started again still drops the duplicates a transport
// delivers after a lost ack (`dedup.store: file`).
//
// One append-only file, `<directory>/dedup.log`, of records
//   [u32 length][u32 crc32 of length and payload][payload]
// (little-endian), payload = [u16 queue length][queue][u64][u64 id key].
// Load stops at the first record that is cut short (a torn tail: the
// process died mid-write) or whose checksum fails (corrupt): both are
// counted and logged, and the file is truncated there; ids lost that way
// can only make an event reach the app twice, never lose one. Per queue
// the newest `window` keys count; once the file holds more than twice
// that (over all queues) it is compacted: rewritten with only those, then
// renamed over the old one. Records reach the file with write(2) at
// Flush, so they survive the process's death, not the host's (no fsync).
// Thread-safe.
class DedupStore {
 public:
  using Key = std::pair<uint64_t, uint64_t>;

  struct Stats {
    // Records read at Open (before dropping those beyond the window).
    uint64_t loaded = 0;
    uint64_t torn_tails = 0;
    uint64_t corrupt_records = 0;
    uint64_t compactions = 0;
    // Flushes that failed (logged; the acks still went on).
    uint64_t write_errors = 0;
  };

  // Opens (creating) the store in `directory`, which must exist, and loads
  // it. `window` >= 1.
  static absl::StatusOr<std::unique_ptr<DedupStore>> Open(
      const std::string& directory, size_t window);
  ~DedupStore();
  DedupStore(const DedupStore&) = delete;
  DedupStore& operator=(const DedupStore&) = delete;

  // The newest keys of each queue at Open, oldest first.
  absl::flat_hash_map<std::string, std::vector<Key>> Loaded() const;

  // Records that `queue` acked `key`; written at the next Flush.
  void Append(absl::string_view queue, Key key);
  // Writes what was appended (compacting when the file is past its
  // bound). Called before the acks it records go on to the bridge.
  absl::Status Flush();

  Stats stats() const;
  // The log's path.
  const std::string& path() const { return path_; }

 private:
  DedupStore(std::string path, size_t window)
      : path_(std::move(path)), window_(window) {}

  absl::Status LoadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RememberLocked(const std::string& queue, Key key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CompactLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  const size_t window_;
  mutable absl::Mutex mu_;
  int fd_ ABSL_GUARDED_BY(mu_) = -1;
  std::string pending_ ABSL_GUARDED_BY(mu_);
  // The newest `window_` keys per queue: what a compaction keeps.
  absl::flat_hash_map<std::string, std::deque<Key>> keys_ ABSL_GUARDED_BY(mu_);
  size_t kept_ ABSL_GUARDED_BY(mu_) = 0;  // keys in keys_
  uint64_t file_records_ ABSL_GUARDED_BY(mu_) = 0;
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

// Encodes one record (for tests that write logs by hand).
std::string EncodeDedupRecord(absl::string_view queue, DedupStore::Key key);

}  // namespace switchboard::consumer

#endif  // SWITCHBOARD_SERVICES_CONSUMER_DEDUP_STORE_H_
