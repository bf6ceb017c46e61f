#include "services/consumer/call_handle.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "services/common/logging.h"
#include "services/common/wire/wire_check.h"
#include "services/consumer/bridge_call.h"
#include "switchboard/v1/event.pb.h"

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
                            bool release, SettledKeys* settled) {
  const Held& h = it->second;
  if (h.window != nullptr) {
    settled->Add(h.window, h.key, release);
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
  // Never delivered to the app: not the app's to settle.
  for (const Parked& p : parked_) {
    if (p.delivery.tag() == tag) return TagState::kStale;
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
  SettledKeys released;
  for (auto& [tag, entry] : held) {
    released.Add(entry.window, entry.key, /*release=*/true);
  }
  released.Apply();
  held_keys.clear();
  held.clear();
  due_.clear();
  // Not in flight: their bridge call gives them back with the rest.
  parked_.clear();
}

void CallHandle::Park(DedupWindow* window, DedupWindow::Key key,
                      switchboard::v1::Delivery delivery,
                      QueueCounters* counters) {
  parked_.push_back(Parked{window, key, std::move(delivery), counters});
  timers_->Schedule(weak_from_this(), timers_->Now() + kParkedPoll);
}

void CallHandle::UnparkLocked(switchboard::v1::ConsumeRequest* acks,
                              relay::SubscribeResponse* out) {
  size_t kept = 0;
  for (Parked& p : parked_) {
    switch (p.window->Admit(p.key)) {
      case DedupWindow::Admission::kInFlight:
        parked_[kept++] = std::move(p);
        break;
      case DedupWindow::Admission::kSeen:
        acks->mutable_ack()->add_tags(p.delivery.tag());
        ++p.counters->duplicates;
        break;
      case DedupWindow::Admission::kAdmitted: {
        const uint64_t tag = p.delivery.tag();
        ++p.counters->deliveries;
        if (p.delivery.delivery_count() > 1) ++p.counters->redeliveries;
        Held held{p.window, p.key, tag};
        held.counters = p.counters;
        Admit(tag, held);
        held_keys[p.key] = tag;
        ToAppDelivery(p.delivery, out->add_deliveries());
        break;
      }
    }
  }
  parked_.resize(kept);
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
  relay::SubscribeResponse out;
  absl::Time next;
  {
    absl::MutexLock lock(&mu);
    if (app_done && !due_.empty() && due_.begin()->first <= now) {
      next = absl::InfinitePast();  // ends the stream, below
    } else {
      switchboard::v1::ConsumeRequest acks;
      UnparkLocked(&acks, &out);
      if (acks.has_ack() && call != nullptr) call->Send(std::move(acks));
      next = FireLocked(now);
      if (!parked_.empty()) next = std::min(next, now + kParkedPoll);
      if (out.deliveries_size() == 0) return next;
      ++handing_over;
    }
  }
  if (next != absl::InfinitePast()) {
    app_->Send(std::move(out));
    bool exhausted;
    {
      absl::MutexLock lock(&mu);
      --handing_over;
      exhausted = Exhausted();
    }
    if (exhausted) app_->Finish(grpc::Status::OK);
    return next;
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
  SettledKeys released;
  while (!due_.empty() && due_.begin()->first <= now) {
    const uint64_t tag = due_.begin()->second;
    auto it = held.find(tag);  // Settle and ReleaseAll keep due_ in step
    if (!it->second.nack_delayed) ++expired;
    back.mutable_nack()->add_tags(Settle(it, /*release=*/true, &released));
    AddStaleLocked(tag);
  }
  released.Apply();
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

void ToAppDelivery(switchboard::v1::Delivery& from, relay::EventDelivery* to) {
  to->set_tag(from.tag());
  to->set_queue(std::move(*from.mutable_queue()));
  to->set_redelivered(from.redelivered());
  to->set_delivery_count(from.delivery_count());
  to->set_event(std::move(*from.mutable_event()));
}

absl::Status CheckDelivery(const switchboard::v1::Delivery& delivery) {
  absl::Status s = wire::CheckMessage(*switchboard::v1::Event::descriptor(),
                                      delivery.event());
  if (s.ok()) return s;
  return absl::InvalidArgumentError(
      absl::StrCat("delivery of event '", absl::CHexEscape(delivery.id()),
                   "' from queue ", delivery.queue(), ": ", s.message()));
}

}  // namespace switchboard::consumer
