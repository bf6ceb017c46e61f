#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_SOURCE_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_SOURCE_H_

#include <functional>
#include <memory>

#include "services/mq-bridge/transport/transport.h"

namespace switchboard::bridge {

// The transport the bridge uses now, kept alive by the caller's copy. A
// reload may replace it between two calls, so RPC handlers look it up per
// request (per batch, per subscription) rather than keeping one. Callable
// from any thread.
using TransportSource = std::function<std::shared_ptr<Transport>()>;

}  // namespace switchboard::bridge

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_SOURCE_H_
