#include "services/consumer/call_handle.h"

#include "services/common/logging.h"
#include "services/consumer/bridge_call.h"

namespace switchboard::consumer {

void CallHandle::Admit(uint64_t tag, Held entry) {
  auto [it, inserted] = held.insert_or_assign(tag, entry);
  if (ack_deadline > absl::ZeroDuration()) {
    SetDueLocked(tag, it->second, timers_->Now() + ack_deadline);
  }
}

void CallHandle::SetDueLocked(uint64_t tag, Held& entry, absl::Time due) {
  if (entry.due != absl::InfiniteFuture()) due_.erase({entry.due, tag});
  entry.due = due;
  // The worker holds this handle's earliest time (Fire returns the next),
  // so only a new earliest is handed to it: not one lock of the worker's
  // per delivery, whose deadlines come in order.
  const bool earliest = due_.empty() || due < due_.begin()->first;
  due_.insert({due, tag});
  if (earliest) timers_->Schedule(weak_from_this(), due);
}

uint64_t CallHandle::Settle(absl::flat_hash_map<uint64_t, Held>::iterator it,
                            bool release) {
  const Held& h = it->second;
  if (h.window != nullptr) {
    if (release) {
      h.window->Release(h.key);
    } else {
      h.window->Done(h.key);
    }
    held_keys.erase(h.key);
  }
  if (h.due != absl::InfiniteFuture()) due_.erase({h.due, it->first});
  const uint64_t bridge_tag = h.bridge_tag;
  held.erase(it);
  return bridge_tag;
}

CallHandle::TagState CallHandle::StateOf(uint64_t tag) const {
  auto it = held.find(tag);
  if (it != held.end()) {
    return it->second.nack_delayed ? TagState::kStale : TagState::kHeld;
  }
  return stale_.contains(tag) ? TagState::kStale : TagState::kUnknown;
}

void CallHandle::Extend(uint64_t tag, absl::Duration deadline) {
  auto it = held.find(tag);
  if (it == held.end() || it->second.nack_delayed) return;
  SetDueLocked(tag, it->second, timers_->Now() + deadline);
}

void CallHandle::DelayNack(uint64_t tag, absl::Duration delay) {
  auto it = held.find(tag);
  if (it == held.end() || it->second.nack_delayed) return;
  it->second.nack_delayed = true;
  SetDueLocked(tag, it->second, timers_->Now() + delay);
}

void CallHandle::ReleaseAll() {
  for (auto& [tag, entry] : held) {
    if (entry.window != nullptr) entry.window->Release(entry.key);
  }
  held_keys.clear();
  held.clear();
  due_.clear();
}

void CallHandle::AddStaleLocked(uint64_t tag) {
  if (!stale_.insert(tag).second) return;
  stale_order_.push_back(tag);
  while (stale_order_.size() > kMaxStaleTags) {
    stale_.erase(stale_order_.front());
    stale_order_.pop_front();
  }
}

absl::Time CallHandle::Fire(absl::Time now) {
  {
    absl::MutexLock lock(&mu);
    if (!app_done || due_.empty() || due_.begin()->first > now) {
      return FireLocked(now);
    }
  }
  // The app closed its side: it could never ack what would come again, so
  // its stream ends (OK), and the stream's end gives back all it held.
  Logger("consumer")
      ->info(
          "a half-closed subscription held a delivery past its ack "
          "deadline ({}); ending it",
          absl::FormatDuration(ack_deadline));
  app_->Finish(grpc::Status::OK);
  return absl::InfiniteFuture();
}

absl::Time CallHandle::FireLocked(absl::Time now) {
  switchboard::v1::ConsumeRequest back;
  int expired = 0;
  while (!due_.empty() && due_.begin()->first <= now) {
    const uint64_t tag = due_.begin()->second;
    auto it = held.find(tag);  // Settle and ReleaseAll keep due_ in step
    if (!it->second.nack_delayed) ++expired;
    back.mutable_nack()->add_tags(Settle(it, /*release=*/true));
    AddStaleLocked(tag);
  }
  expired_ += expired;
  if (back.has_nack()) {
    if (expired > 0) {
      Logger("consumer")
          ->info(
              "{} deliveries held past their ack deadline ({}) go back to "
              "their queues",
              expired, absl::FormatDuration(ack_deadline));
    }
    back.mutable_nack()->set_requeue(true);
    if (call != nullptr) call->Send(std::move(back));
  }
  return due_.empty() ? absl::InfiniteFuture() : due_.begin()->first;
}

}  // namespace switchboard::consumer
