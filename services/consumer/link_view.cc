#include "services/consumer/link_view.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"

namespace switchboard::consumer {

using switchboard::v1::WatchLinkStatusRequest;
using switchboard::v1::WatchLinkStatusResponse;

LinkView::LinkView(LinkViewConfig config,
                   std::shared_ptr<grpc::Channel> channel)
    : stream_(std::move(config), std::move(channel), &core_) {}

LinkView::~LinkView() { Stop(); }

void LinkView::Start() { stream_.Start(); }

void LinkView::Stop() {
  // The watches end at once, not after the stream has handed its
  // deliveries back.
  core_.Close();
  stream_.Stop();
}

grpc::ServerWriteReactor<WatchLinkStatusResponse>* LinkView::Watch(
    const WatchLinkStatusRequest& request) {
  absl::StatusOr<absl::flat_hash_set<std::string>> only = WatchedLinks(request);
  if (!only.ok()) return RefusedWatch(only.status());
  auto watcher = std::make_shared<LinkWatcher>(*std::move(only));
  // The call first: the watcher writes to it as soon as it is registered.
  auto* call = NewWatchCall(
      watcher, [core = &core_, w = watcher.get()] { core->RemoveWatcher(w); });
  if (core_.AddWatcher(watcher)) watcher->Kick();
  return call;
}

}  // namespace switchboard::consumer
