#include "services/common/bidi_stream.h"

#include <vector>

namespace switchboard {

bool StreamSet::Add(std::shared_ptr<StreamWriterBase> writer) {
  absl::MutexLock lock(&mu_);
  if (closed_) return false;
  StreamWriterBase* key = writer.get();
  writers_.emplace(key, std::move(writer));
  return true;
}

void StreamSet::Remove(StreamWriterBase* writer) {
  absl::MutexLock lock(&mu_);
  writers_.erase(writer);
}

size_t StreamSet::size() {
  absl::MutexLock lock(&mu_);
  return writers_.size();
}

void StreamSet::FinishAll(const grpc::Status& status) {
  std::vector<std::shared_ptr<StreamWriterBase>> open;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [key, writer] : writers_) open.push_back(writer);
  }
  for (auto& writer : open) writer->Finish(status);
}

void StreamSet::CloseAll() {
  // Finish outside the lock: gRPC may run a stream's OnDone inline, and
  // OnDone removes the stream from this set.
  std::vector<std::shared_ptr<StreamWriterBase>> open;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    for (auto& [key, writer] : writers_) open.push_back(writer);
  }
  for (auto& writer : open) {
    writer->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                "the service is shutting down"));
  }
}

}  // namespace switchboard
