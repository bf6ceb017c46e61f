#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_INFO_HANDLER_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_INFO_HANDLER_H_

#include "absl/status/status.h"
#include "services/mq-bridge/transport_source.h"
#include "switchboard/v1/bridge.pb.h"

namespace switchboard::bridge {

// Bridge.GetTransportInfo: the driver of the transport in use now, its
// capabilities, and where it is connected. Never fails. Thread-safe.
class TransportInfoHandler {
 public:
  explicit TransportInfoHandler(TransportSource transport);

  absl::Status Handle(const switchboard::v1::GetTransportInfoRequest& request,
                      switchboard::v1::TransportInfo* response) const;

 private:
  const TransportSource transport_;
};

}  // namespace switchboard::bridge

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_INFO_HANDLER_H_
