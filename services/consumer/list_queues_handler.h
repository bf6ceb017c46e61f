#ifndef SWITCHBOARD_SERVICES_CONSUMER_LIST_QUEUES_HANDLER_H_
#define SWITCHBOARD_SERVICES_CONSUMER_LIST_QUEUES_HANDLER_H_

#include <functional>

#include "absl/status/status.h"
#include "switchboard/v1/bridge.grpc.pb.h"
#include "switchboard/v1/consumer.pb.h"

namespace switchboard::consumer {

// Consumer.ListQueues: the bridge's stats of the named queues (every queue
// when none is named), asked with Bridge.GetQueueStats (10 s at most) and
// answered as the bridge answers (NotFound for an unknown queue); an
// UNAVAILABLE or DEADLINE_EXCEEDED says the bridge is unreachable.
// Thread-safe.
class ListQueuesHandler {
 public:
  // `bridge` must outlive the handler and every call it starts.
  explicit ListQueuesHandler(switchboard::v1::Bridge::Stub* bridge)
      : bridge_(bridge) {}

  // Fills `response` (on error, leaves it empty) and then runs `done`, on
  // a gRPC thread, once the bridge has answered. `response` must live until
  // then.
  void Handle(const switchboard::v1::ListQueuesRequest& request,
              switchboard::v1::ListQueuesResponse* response,
              std::function<void(absl::Status)> done) const;

 private:
  switchboard::v1::Bridge::Stub* const bridge_;
};

}  // namespace switchboard::consumer

#endif  // SWITCHBOARD_SERVICES_CONSUMER_LIST_QUEUES_HANDLER_H_
