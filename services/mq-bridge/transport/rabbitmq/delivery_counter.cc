#include "services/mq-bridge/transport/rabbitmq/delivery_counter.h"

#include "absl/strings/str_cat.h"

namespace switchboard::bridge::rabbitmq {

uint32_t DeliveryCounter::Count(const std::string& queue,
                                const std::string& id) {
  std::string key = absl::StrCat(queue, "/", id);
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = counts_.try_emplace(key, 1);
  if (inserted) {
    order_.push_back(key);
    while (order_.size() > capacity_) {
      counts_.erase(order_.front());
      order_.pop_front();
    }
  }
  return ++it->second;
}

void DeliveryCounter::Forget(const std::string& queue, const std::string& id) {
  absl::MutexLock lock(&mu_);
  // Its place in order_ goes when it reaches the front.
  counts_.erase(absl::StrCat(queue, "/", id));
}

}  // namespace switchboard::bridge::rabbitmq
