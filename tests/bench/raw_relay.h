#ifndef SWITCHBOARD_TESTS_BENCH_RAW_RELAY_H_
#define SWITCHBOARD_TESTS_BENCH_RAW_RELAY_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace switchboard::bench {

// A gRPC server that relays every stream it accepts, whatever its method,
// to the same method at another address, without parsing a byte: the
// benchmark's "raw relay" baseline (tests/bench/raw_baselines.h), the cost
// of a gRPC hop through a process with no application work.
//
// Each incoming call becomes one outgoing bidi call (gRPC's generic API on
// both sides: grpc::CallbackGenericService, grpc::GenericStub). Every
// request message is forwarded downstream in order, every response message
// upstream in order. Per direction one write is outstanding at a time and
// the rest wait in a queue; once a queue holds kMaxQueued messages the
// relay stops reading the side that fills it until the queue drains, so a
// slow reader slows the writer down instead of growing the relay's memory.
// No reaction ever blocks.
//
// Ends propagate both ways: the caller's half-close becomes a half-close
// downstream; the downstream status (after every response before it) ends
// the caller's call; a cancelled or broken caller cancels the downstream
// call. Neither metadata nor deadlines are forwarded.
class RawRelay {
 public:
  // Messages queued per direction and call before reading that direction
  // pauses.
  static constexpr size_t kMaxQueued = 32;

  // Listens on `listen` ("127.0.0.1:0": any free port) and relays to `to`.
  static absl::StatusOr<std::unique_ptr<RawRelay>> Start(
      const std::string& listen, const std::string& to);

  // Shutdown(1s) if not yet done.
  ~RawRelay();

  // The TCP port bound.
  int port() const { return port_; }

  // Stops accepting calls, waits up to `grace` for the running ones to end,
  // then cancels them. Idempotent.
  void Shutdown(absl::Duration grace);

 private:
  class Service;

  RawRelay(std::unique_ptr<Service> service,
           std::unique_ptr<grpc::Server> server, int port);

  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_;
  bool shut_down_ = false;
};

}  // namespace switchboard::bench

#endif  // SWITCHBOARD_TESTS_BENCH_RAW_RELAY_H_
