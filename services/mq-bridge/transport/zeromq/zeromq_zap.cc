#include "services/mq-bridge/transport/zeromq/zeromq_zap.h"

#include <utility>
#include <vector>

#include "services/common/logging.h"
#include "services/common/status_macros.h"
#include "services/mq-bridge/transport/zeromq/zeromq_settings.h"

namespace switchboard::bridge::zeromq {
namespace {

std::shared_ptr<spdlog::logger> Log() { return Logger("bridge.zeromq"); }

}  // namespace

absl::StatusOr<std::unique_ptr<ZapHandler>> ZapHandler::Open(
    ZmqContext& context) {
  SB_ASSIGN_OR_RETURN(
      std::unique_ptr<ZmqSocket> socket,
      ZmqSocket::Open(context, ZmqSocket::Type::kRep, "zeromq ZAP handler"));
  SB_RETURN_IF_ERROR(socket->SetLinger(absl::ZeroDuration()));
  SB_RETURN_IF_ERROR(socket->Bind("inproc://zeromq.zap.01"));
  return std::unique_ptr<ZapHandler>(new ZapHandler(std::move(socket)));
}

void ZapHandler::Authorize(const std::string& z85_key) {
  authorized_keys_.insert(DecodeCurveKey(z85_key));
}

uint64_t ZapHandler::AnswerPending() {
  uint64_t refused = 0;
  std::vector<std::string> request;
  for (;;) {
    absl::StatusOr<bool> got = socket_->TryReceive(&request);
    if (!got.ok()) {
      Log()->error("{}", got.status().ToString());
      // A REP socket that read part of a request must answer before it can
      // read again: refuse it (a socket that read nothing rejects this).
      const OutFrame failure[] = {
          {"1.0"}, {""}, {"500"}, {"ZAP request unreadable"}, {""}, {""}};
      socket_->Send(failure).IgnoreError();
      return refused;
    }
    if (!*got) return refused;
    // ZAP 1.0: version, request id, domain, address, routing id,
    // mechanism, credentials (for CURVE: the client's public key).
    const bool allowed = request.size() >= 7 && request[0] == "1.0" &&
                         request[5] == "CURVE" &&
                         authorized_keys_.contains(request[6]);
    if (!allowed) {
      ++refused;
      if (request.size() >= 7 && request[6].size() == 32) {
        Log()->debug("refused CURVE key {} from {}", EncodeCurveKey(request[6]),
                     request[3]);
      }
    }
    const std::string id = request.size() > 1 ? request[1] : "";
    const OutFrame reply[] = {{"1.0"},
                              {id},
                              {allowed ? "200" : "400"},
                              {allowed ? "OK" : "CURVE key not authorized"},
                              {""},
                              {""}};
    if (absl::Status s = socket_->Send(reply); !s.ok()) {
      Log()->error("ZAP reply: {}", s.ToString());
    }
  }
}

}  // namespace switchboard::bridge::zeromq
