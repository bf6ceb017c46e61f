#include "services/mq-bridge/transport_info_handler.h"

#include <memory>
#include <string>
#include <utility>

namespace switchboard::bridge {

TransportInfoHandler::TransportInfoHandler(TransportSource transport)
    : transport_(std::move(transport)) {}

absl::Status TransportInfoHandler::Handle(
    const switchboard::v1::GetTransportInfoRequest& request,
    switchboard::v1::TransportInfo* response) const {
  std::shared_ptr<Transport> transport = transport_();
  Capabilities caps = transport->capabilities();
  response->set_driver(std::string(transport->driver()));
  response->set_durable(caps.durable);
  response->set_acks(caps.acks);
  response->set_last_value(caps.last_value);
  response->set_ordered_requeue(caps.ordered_requeue);
  response->set_confirmed_delivery(caps.confirmed_delivery);
  response->set_queue_limits(caps.queue_limits);
  response->set_drop_counters(caps.drop_counters);
  response->set_connected_to(transport->connected_to());
  return absl::OkStatus();
}

}  // namespace switchboard::bridge
