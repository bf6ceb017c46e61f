#include "services/mq-bridge/transport/zeromq/zeromq_testing.h"

#include <zmq.h>

#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace switchboard::bridge::zeromq::zmqtest {

std::string IpcEndpoint() {
  return absl::StrCat("ipc://@switchboard-zmq-test-",
                      absl::Uniform<uint64_t>(absl::BitGen()));
}

Settings Loopback() {
  Settings s;
  s.bind = "tcp://127.0.0.1:*";
  s.connect_timeout = kWait;
  return s;
}

std::unique_ptr<ZeroMqTransport> MustStart(Settings s) {
  auto t = ZeroMqTransport::Start(std::move(s));
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *std::move(t) : nullptr;
}

std::vector<std::string> Ids(const std::vector<Delivery>& deliveries) {
  std::vector<std::string> ids;
  for (const Delivery& d : deliveries) ids.push_back(d.id);
  return ids;
}

std::string PayloadOf(const std::string& id, int i) {
  return absl::StrCat("payload-", id, std::string(i % 10 == 0 ? 4000 : 0, '.'));
}

absl::Status Publish(Transport& t, const std::string& queue,
                     const std::vector<std::string>& ids) {
  std::vector<OutgoingMessage> batch;
  for (size_t i = 0; i < ids.size(); ++i) {
    batch.push_back(OutgoingMessage{
        ids[i],
        std::make_shared<const std::string>(PayloadOf(ids[i], i)),
        {queue}});
  }
  absl::Notification done;
  absl::Status result;
  t.Publish(std::move(batch), [&](absl::Status s) {
    result = s;
    done.Notify();
  });
  if (!done.WaitForNotificationWithTimeout(kWait)) {
    return absl::DeadlineExceededError("never confirmed");
  }
  return result;
}

std::vector<std::string> Numbered(const std::string& prefix, int from, int to) {
  std::vector<std::string> ids;
  for (int i = from; i < to; ++i) ids.push_back(absl::StrCat(prefix, i));
  return ids;
}

KeyPair NewKeyPair() {
  char public_key[41];
  char secret_key[41];
  EXPECT_EQ(zmq_curve_keypair(public_key, secret_key), 0);
  return {public_key, secret_key};
}

}  // namespace switchboard::bridge::zeromq::zmqtest
