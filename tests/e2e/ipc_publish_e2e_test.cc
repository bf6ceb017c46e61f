// IPC mode: the broadcaster also listens on a unix domain socket, so that the
// forked worker processes of one host publish through the one service that
// owns the TCP port. Real binaries (memory transport); the workers are
// switchboardctl processes publishing to unix:<path>.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/common/auth_policy.h"
#include "tests/testing/cluster.h"
#include "tests/testing/unix_socket_testing.h"

namespace switchboard::testing {
namespace {

using switchboard::v1::EventDelivery;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int kWorkers = 8;
constexpr int kEventsPerWorker = 2000;
constexpr char kSource[] = "ipc/worker";

// A broadcaster on loopback TCP plus `socket` (mode 0660, our own group).
std::string BroadcasterYaml(const std::string& socket,
                            const std::string& transport = "tcp") {
  return absl::StrCat(
      "listen:\n"
      "  transport: ",
      transport,
      "\n"
      "  bind_address: 127.0.0.1\n"
      "  port: 0\n"
      "  unix_socket:\n"
      "    path: ",
      socket,
      "\n"
      "    mode: \"0660\"\n"
      "    group: ",
      OwnGroupName(),
      "\n"
      "bridge:\n"
      "  address: $BRIDGE\n"
      "  backoff_initial: 20ms\n"
      "  backoff_max: 200ms\n");
}

std::unique_ptr<Cluster> MustStart(const std::string& socket) {
  Cluster::Options options;
  options.broadcaster_yaml = BroadcasterYaml(socket);
  auto cluster = Cluster::Start(std::move(options));
  EXPECT_TRUE(cluster.ok()) << cluster.status();
  return cluster.ok() ? *std::move(cluster) : nullptr;
}

// `worker`'s events as switchboardctl --stdin reads them: one JSON Event per
// line, with the worker and its own sequence in attributes.
std::string WorkerInput(int worker) {
  std::string lines;
  for (int i = 0; i < kEventsPerWorker; ++i) {
    absl::StrAppend(&lines, R"({"source":")", kSource,
                    R"(","type":"ipc.test","attributes":{"worker":")", worker,
                    R"(","seq":")", i, R"("},"binaryData":"eHh4eHh4eHg="})",
                    "\n");
  }
  return lines;
}

int Attribute(const EventDelivery& d, const std::string& key) {
  int value = -1;
  auto it = d.event().attributes().find(key);
  EXPECT_TRUE(it != d.event().attributes().end()) << key;
  if (it != d.event().attributes().end()) {
    EXPECT_TRUE(absl::SimpleAtoi(it->second, &value)) << it->second;
  }
  return value;
}

// Runs a broadcaster binary with `yaml` (no --listen) until it exits.
std::pair<std::optional<int>, std::string> RunBroadcasterToExit(
    const std::string& dir, const std::string& yaml) {
  std::string config = dir + "/refused.yaml";
  std::string log = dir + "/refused.log";
  WriteFile(config, yaml);
  Process::Options o;
  o.stdout_path = log;
  o.stderr_path = log;
  auto process = Process::Start(Runfile("services/broadcaster/broadcaster"),
                                {"--config", config}, o);
  EXPECT_TRUE(process.ok()) << process.status();
  if (!process.ok()) return {std::nullopt, ""};
  std::optional<int> code = (*process)->Wait(absl::Seconds(30));
  return {code, ReadFile(log)};
}

// Forks kWorkers switchboardctl processes that publish kEventsPerWorker
// events each, concurrently, to unix:<socket>; returns what the verbose
// queue delivered.
std::vector<EventDelivery> PublishFromWorkers(Cluster& cluster,
                                              const std::string& socket) {
  EXPECT_TRUE(cluster.AwaitDepth("verbose", 0));
  auto subscriber = Subscriber::Open(cluster.consumer_address(), {"verbose"},
                                     1000, /*auto_ack=*/true);
  EXPECT_TRUE(subscriber.ok()) << subscriber.status();
  if (!subscriber.ok()) return {};

  // A worker that dies early must fail the test, not kill it.
  signal(SIGPIPE, SIG_IGN);
  // The workers: separate processes (fork + exec of switchboardctl), each
  // with its own Publish stream on the socket. All are started first and
  // then fed at once, so they publish concurrently.
  std::vector<std::unique_ptr<Process>> workers;
  for (int w = 0; w < kWorkers; ++w) {
    Process::Options o;
    o.pipe_stdin = true;
    o.stdout_path = absl::StrCat(cluster.dir(), "/worker-", w, ".out");
    o.stderr_path = absl::StrCat(cluster.dir(), "/worker-", w, ".err");
    auto worker = Process::Start(Runfile("tools/switchboardctl/switchboardctl"),
                                 {"publish", "--broadcaster=unix:" + socket,
                                  "--stdin", "--batch=25", "--timeout=30s"},
                                 o);
    EXPECT_TRUE(worker.ok()) << worker.status();
    if (!worker.ok()) return {};
    workers.push_back(*std::move(worker));
  }
  std::vector<std::string> inputs;
  for (int w = 0; w < kWorkers; ++w) inputs.push_back(WorkerInput(w));
  std::vector<std::thread> feeders;
  for (int w = 0; w < kWorkers; ++w) {
    feeders.emplace_back([&, w] {
      workers[w]->WriteStdin(inputs[w]);
      workers[w]->CloseStdin();
    });
  }
  for (std::thread& t : feeders) t.join();
  for (int w = 0; w < kWorkers; ++w) {
    EXPECT_EQ(workers[w]->Wait(absl::Seconds(60)), 0)
        << "worker " << w << ": "
        << ReadFile(absl::StrCat(cluster.dir(), "/worker-", w, ".err"));
    // switchboardctl's summary goes to stderr.
    EXPECT_THAT(ReadFile(absl::StrCat(cluster.dir(), "/worker-", w, ".err")),
                HasSubstr(absl::StrCat("published ", kEventsPerWorker,
                                       " events (accepted ", kEventsPerWorker,
                                       ", rejected 0)")));
  }

  const size_t total = kWorkers * kEventsPerWorker;
  std::vector<EventDelivery> got =
      (*subscriber)->WaitFor(total, absl::Seconds(60));
  // Nothing more trickles in (no duplicates).
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ((*subscriber)->count(), got.size());
  return got;
}

TEST(IpcPublishE2eTest, ForkedWorkersPublishConcurrentlyOverTheUnixSocket) {
  ShortTempDir dir;
  const std::string socket = dir.path() + "/broadcaster.sock";
  auto cluster = MustStart(socket);
  ASSERT_NE(cluster, nullptr);

  // The socket exists with the configured mode and group, and the log names
  // every listener.
  struct stat st;
  ASSERT_EQ(stat(socket.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(st.st_gid, getegid());
  std::string log = cluster->Log("broadcaster");
  EXPECT_THAT(log, HasSubstr("broadcaster listening on 127.0.0.1:0 (port "));
  EXPECT_THAT(log, HasSubstr(absl::StrCat(
                       "broadcaster listening on unix:", socket,
                       " (mode 0660, group ", OwnGroupName(), ", plaintext)")));

  const size_t total = kWorkers * kEventsPerWorker;
  std::vector<EventDelivery> got = PublishFromWorkers(*cluster, socket);
  ASSERT_EQ(got.size(), total);

  std::map<int, int> next;  // worker -> next expected seq
  int switches = 0;
  int previous = -1;
  for (const EventDelivery& d : got) {
    int worker = Attribute(d, "worker");
    int seq = Attribute(d, "seq");
    ASSERT_TRUE(worker >= 0 && worker < kWorkers) << worker;
    EXPECT_EQ(seq, next[worker]) << "worker " << worker << " out of order";
    next[worker] = seq + 1;
    if (worker != previous) ++switches;
    previous = worker;
  }
  for (int w = 0; w < kWorkers; ++w) {
    EXPECT_EQ(next[w], kEventsPerWorker) << "worker " << w;
  }
  // Distinct ids, and the broadcaster numbered the one source 1..total.
  std::set<std::string> ids;
  std::set<uint64_t> sequences;
  for (const EventDelivery& d : got) {
    ids.insert(d.event().id());
    sequences.insert(d.event().sequence());
  }
  EXPECT_EQ(ids.size(), total);
  EXPECT_EQ(sequences.size(), total);
  EXPECT_EQ(*sequences.begin(), 1u);
  EXPECT_EQ(*sequences.rbegin(), total);
  // The workers' streams really were served side by side: in the one
  // source's order their events interleave (one after the other would make
  // kWorkers runs).
  std::cout << "worker runs in the verbose queue: " << switches << "\n";
  EXPECT_GT(switches, kWorkers);

  // Unary calls work over the socket too.
  auto stats = GetBroadcasterStats("unix:" + socket);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->accepted(), total);
}

TEST(IpcPublishE2eTest, StaleSocketIsReplacedLiveOneRefusedAndRemovedOnExit) {
  ShortTempDir dir;
  const std::string socket = dir.path() + "/broadcaster.sock";
  auto cluster = MustStart(socket);
  ASSERT_NE(cluster, nullptr);

  // A second broadcaster on the same socket while the first serves it.
  auto [code, log] = RunBroadcasterToExit(
      cluster->dir(),
      absl::StrReplaceAll(BroadcasterYaml(socket),
                          {{"$BRIDGE", cluster->bridge_address()}}));
  EXPECT_EQ(code, 1) << log;
  EXPECT_THAT(log, HasSubstr(absl::StrCat(
                       "a running server already listens on unix socket '",
                       socket, "'")));
  auto accepted =
      Publish("unix:" + socket, MakeEvents(kSource, "ipc.test", 10), 10);
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_EQ(accepted->at(0).accepted(), 10u);

  // kill -9 leaves the socket file behind; the restart (on its old TCP
  // port, through --listen, which keeps the configured socket) replaces it.
  cluster->broadcaster().Signal(SIGKILL);
  cluster->broadcaster().Wait(absl::Seconds(10));
  struct stat st;
  ASSERT_EQ(lstat(socket.c_str(), &st), 0) << "no stale socket to replace";
  ASSERT_TRUE(cluster->StartBroadcaster().ok()) << cluster->Log("broadcaster");
  EXPECT_THAT(cluster->Log("broadcaster"),
              HasSubstr("removed stale unix socket " + socket));
  accepted = Publish("unix:" + socket, MakeEvents(kSource, "ipc.test", 10), 10);
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_EQ(accepted->at(0).accepted(), 10u);
  ASSERT_EQ(stat(socket.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660u);

  // A graceful stop removes the socket file.
  cluster->broadcaster().Signal(SIGTERM);
  EXPECT_EQ(cluster->broadcaster().Wait(absl::Seconds(30)), 0);
  EXPECT_NE(lstat(socket.c_str(), &st), 0) << "socket file left behind";
}

// With auth on, callers through the unix socket that bring no credentials
// get auth.unix_socket_identity (who may connect at all is the socket's
// mode and group); over TCP the same call is UNAUTHENTICATED, and a token
// still names its own identity.
TEST(IpcPublishE2eTest, TheUnixSocketHasItsOwnIdentity) {
  ShortTempDir dir;
  const std::string socket = dir.path() + "/b.sock";
  Cluster::Options options;
  options.broadcaster_yaml = absl::StrCat(
      BroadcasterYaml(socket),
      "auth:\n  mode: required\n  unix_socket_identity: local-workers\n"
      "  identities:\n"
      "    local-workers:\n      publish: {sources: ['ipc/.*'], types: "
      "['.*']}\n"
      "    kytos:\n      token_sha256: ",
      Sha256Hex("kytos-token"),
      "\n      publish: {sources: ['kytos/.*'], types: ['.*']}\n");
  auto cluster = Cluster::Start(std::move(options));
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  const std::string unix_address = "unix:" + socket;

  auto own = Publish(unix_address, MakeEvents(kSource, "ipc.test", 3));
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_EQ(own->at(0).accepted(), 3u);
  auto forged = Publish(unix_address, MakeEvents("kytos/topology", "t", 1));
  ASSERT_TRUE(forged.ok()) << forged.status();
  ASSERT_EQ(forged->at(0).rejections_size(), 1);
  EXPECT_THAT(forged->at(0).rejections(0).reason(),
              HasSubstr("identity 'local-workers' may not publish as source "
                        "'kytos/topology'"));
  EXPECT_TRUE(absl::IsUnauthenticated(
      Publish((*cluster)->broadcaster_address(), MakeEvents(kSource, "t", 1))
          .status()));
  auto as_kytos = Publish(unix_address, MakeEvents("kytos/topology", "t", 1),
                          100, "kytos-token");
  ASSERT_TRUE(as_kytos.ok()) << as_kytos.status();
  EXPECT_EQ(as_kytos->at(0).accepted(), 1u);
}

// With peer_credentials the broadcaster reads each unix socket peer's uid
// (SO_PEERCRED): this test's user publishes as its identity, and another
// user (nobody, run through setpriv when the test runs as root) as its own;
// each may publish only its own sources.
TEST(IpcPublishE2eTest, UnixPeersAreKnownByTheirUid) {
  ShortTempDir dir;
  const std::string socket = dir.path() + "/b.sock";
  Cluster::Options options;
  options.broadcaster_yaml = absl::StrCat(
      absl::StrReplaceAll(BroadcasterYaml(socket),
                          {{"    mode: \"0660\"\n",
                            "    mode: \"0666\"\n    peer_credentials: "
                            "true\n"}}),
      "auth:\n  mode: required\n  identities:\n"
      "    me:\n      unix_users: ['",
      getuid(),
      "']\n"
      "      publish: {sources: ['ipc/.*'], types: ['.*']}\n"
      "    nobody-id:\n      unix_users: [nobody]\n"
      "      publish: {sources: ['nobody/.*'], types: ['.*']}\n");
  auto cluster = Cluster::Start(std::move(options));
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  EXPECT_THAT((*cluster)->Log("broadcaster"),
              HasSubstr("plaintext, peer credentials)"));
  const std::string unix_address = "unix:" + socket;

  auto own = Publish(unix_address, MakeEvents(kSource, "ipc.test", 2));
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_EQ(own->at(0).accepted(), 2u);
  auto forged = Publish(unix_address, MakeEvents("nobody/x", "t", 1));
  ASSERT_TRUE(forged.ok()) << forged.status();
  ASSERT_EQ(forged->at(0).rejections_size(), 1);
  EXPECT_THAT(forged->at(0).rejections(0).reason(),
              HasSubstr("identity 'me' may not publish as source 'nobody/x'"));

  if (getuid() != 0) {
    GTEST_SKIP() << "not root: the other user's half (setpriv to nobody) "
                    "is skipped";
  }
  // switchboardctl as nobody: a copy it may execute, outside /root.
  const std::string ctl = dir.path() + "/switchboardctl";
  {
    std::ifstream in(Runfile("tools/switchboardctl/switchboardctl"),
                     std::ios::binary);
    std::ofstream out(ctl, std::ios::binary);
    out << in.rdbuf();
  }
  ASSERT_EQ(chmod(ctl.c_str(), 0755), 0);
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
  auto run_as_nobody = [&](const std::string& source, std::string* err) {
    Process::Options o;
    o.stdout_path = dir.path() + "/ctl.out";
    o.stderr_path = dir.path() + "/ctl.err";
    auto p = Process::Start(
        "/usr/bin/setpriv",
        {"--reuid=65534", "--regid=65534", "--clear-groups", ctl, "publish",
         "--broadcaster=" + unix_address, "--source=" + source, "--type=t"},
        o);
    EXPECT_TRUE(p.ok()) << p.status();
    if (!p.ok()) return -1;
    const std::optional<int> code = (*p)->Wait(absl::Seconds(30));
    *err = ReadFile(o.stderr_path);
    return code.value_or(-1);
  };
  std::string err;
  EXPECT_EQ(run_as_nobody("nobody/x", &err), 0) << err;
  EXPECT_EQ(run_as_nobody(kSource, &err), 1) << err;
  EXPECT_THAT(err, HasSubstr("identity 'nobody-id' may not publish as source"));
}

TEST(IpcPublishE2eTest, APathThatIsNotASocketIsRefusedAndKept) {
  ShortTempDir dir;
  const std::string path = dir.path() + "/not-a-socket";
  WriteFile(path, "precious\n");
  auto [code, log] = RunBroadcasterToExit(
      dir.path(),
      absl::StrReplaceAll(BroadcasterYaml(path), {{"$BRIDGE", "127.0.0.1:1"}}));
  EXPECT_EQ(code, 1) << log;
  EXPECT_THAT(log,
              HasSubstr(absl::StrCat(
                  "cannot start: FAILED_PRECONDITION: unix socket path '", path,
                  "' exists and is a regular file, not a socket; "
                  "refusing to replace it")));
  EXPECT_EQ(ReadFile(path), "precious\n");
}

TEST(IpcPublishE2eTest, InvalidSocketSettingsAreConfigErrors) {
  ShortTempDir dir;
  struct Case {
    std::string listen;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"listen:\n  unix_socket: {path: " + dir.path() +
           "/a.sock, mode: "
           "\"0999\"}\n",
       "listen.unix_socket.mode: expected an octal file mode"},
      {"listen:\n  unix_socket: {path: " + dir.path() + "/missing/a.sock}\n",
       "listen.unix_socket.path: directory '" + dir.path() + "/missing' of"},
      {"listen:\n  unix_socket: {path: " + dir.path() +
           "/a.sock, group: no-such-group-sb}\n",
       "listen.unix_socket.group: unknown group 'no-such-group-sb'"},
      {"listen:\n  transport: unix\n", "listen.unix_socket.path: must be set"},
  };
  for (const Case& c : cases) {
    auto [code, log] = RunBroadcasterToExit(dir.path(), c.listen);
    EXPECT_EQ(code, 2) << c.listen << log;
    EXPECT_THAT(log, HasSubstr("invalid config: "));
    EXPECT_THAT(log, HasSubstr(c.error)) << c.listen;
  }
}

TEST(IpcPublishE2eTest, TransportUnixListensOnlyOnTheSocket) {
  ShortTempDir dir;
  const std::string socket = dir.path() + "/only.sock";
  Cluster::Options options;
  auto cluster = Cluster::Start(options);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  std::string config = dir.path() + "/unix.yaml";
  std::string log = dir.path() + "/unix.log";
  std::string port_file = dir.path() + "/unix.port";
  WriteFile(config,
            absl::StrReplaceAll(BroadcasterYaml(socket, "unix"),
                                {{"$BRIDGE", (*cluster)->bridge_address()}}));
  Process::Options o;
  o.stdout_path = log;
  o.stderr_path = log;
  auto broadcaster =
      Process::Start(Runfile("services/broadcaster/broadcaster"),
                     {"--config", config, "--port_file", port_file}, o);
  ASSERT_TRUE(broadcaster.ok()) << broadcaster.status();
  auto port = WaitForPortFile(port_file, **broadcaster, log, absl::Seconds(30));
  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_EQ(*port, 0);  // no TCP listener
  EXPECT_THAT(ReadFile(log), HasSubstr("listening on unix:" + socket));
  EXPECT_THAT(ReadFile(log), Not(HasSubstr("listening on 127.0.0.1")));

  auto answers =
      Publish("unix:" + socket, MakeEvents(kSource, "ipc.test", 50), 25);
  ASSERT_TRUE(answers.ok()) << answers.status();
  ASSERT_EQ(answers->size(), 2u);
  EXPECT_EQ((*answers)[0].accepted() + (*answers)[1].accepted(), 50u);
  ASSERT_TRUE((*cluster)->AwaitDepth("verbose", 50));
  auto subscriber = Subscriber::Open((*cluster)->consumer_address(),
                                     {"verbose"}, 100, /*auto_ack=*/true);
  ASSERT_TRUE(subscriber.ok()) << subscriber.status();
  EXPECT_EQ((*subscriber)->WaitFor(50).size(), 50u);
}

// One source publishing on several streams at once: the sequence numbers
// the broadcaster gives it reach the queue in order (batches are buffered
// in the order they were numbered). This test found 2626..2650 arriving
// before 2601..2625 when numbering and buffering were two separate steps.
TEST(IpcPublishE2eTest,
     OneSourceOnManyStreamsKeepsTheBroadcasterSequenceInOrder) {
  ShortTempDir dir;
  const std::string socket = dir.path() + "/broadcaster.sock";
  auto cluster = MustStart(socket);
  ASSERT_NE(cluster, nullptr);
  std::vector<EventDelivery> got = PublishFromWorkers(*cluster, socket);
  ExpectExactlyOnceInSourceOrder(
      got, {{kSource, static_cast<int>(kWorkers * kEventsPerWorker)}});
}

}  // namespace
}  // namespace switchboard::testing
