#include "services/mq-bridge/transport/zeromq/zeromq_transport.h"

#include <utility>

#include "services/common/status_macros.h"
#include "services/mq-bridge/transport/registry.h"
#include "services/mq-bridge/transport/zeromq/zeromq_transport_impl.h"

namespace switchboard::bridge::zeromq {

absl::StatusOr<std::unique_ptr<Transport>> Create(const ConfigNode& config) {
  SB_ASSIGN_OR_RETURN(Settings settings, ParseSettings(config));
  SB_ASSIGN_OR_RETURN(std::unique_ptr<ZeroMqTransport> transport,
                      ZeroMqTransport::Start(std::move(settings)));
  return transport;
}

SB_REGISTER_TRANSPORT("zeromq", Create, ParseSettings);

}  // namespace switchboard::bridge::zeromq
