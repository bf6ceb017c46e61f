// Metrics through real processes (README "Metrics"): each service's
// /metrics passes `promtool check metrics`, and a real Prometheus server
// scraping the three services reports exactly what was published, per
// queue.
#include <signal.h>

#include <cstdlib>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster.h"

namespace switchboard::testing {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Minutes(2);

const char* const kServices[] = {"bridge", "broadcaster", "consumer"};

Cluster::Options WithMetrics() {
  Cluster::Options o;
  const std::string metrics = "metrics:\n  listen: 127.0.0.1:0\n";
  o.bridge_yaml += metrics;
  o.broadcaster_yaml += metrics;
  o.consumer_yaml += metrics;
  return o;
}

// Runs `command` (a shell line) and returns its exit status and output.
std::pair<int, std::string> RunShell(const std::string& command) {
  const std::string out = NewTempDir("run") + "/out";
  const int rc = std::system(absl::StrCat(command, " >", out, " 2>&1").c_str());
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, ReadFile(out)};
}

TEST(MetricsTest, EveryServicesOutputPassesPromtool) {
  auto cluster = Cluster::Start(WithMetrics());
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  // Something in every family: traffic, and a subscriber that acks.
  ASSERT_TRUE(Publish((*cluster)->broadcaster_address(),
                      MakeEvents("kytos/topology", "kytos.link_up", 20))
                  .ok());
  ASSERT_TRUE((*cluster)->AwaitDepth("app.kytos.topology", 20));
  auto app = Subscriber::Open((*cluster)->consumer_address(),
                              {"app.kytos.topology"}, 100, /*auto_ack=*/true);
  ASSERT_TRUE(app.ok()) << app.status();
  ASSERT_EQ((*app)->WaitFor(20).size(), 20u);
  for (const char* service : kServices) {
    SCOPED_TRACE(service);
    const int port = (*cluster)->MetricsPort(service);
    ASSERT_GT(port, 0) << (*cluster)->Log(service);
    absl::StatusOr<std::string> body = HttpGet(port, "/metrics");
    ASSERT_TRUE(body.ok()) << body.status();
    EXPECT_THAT(*body, HasSubstr("process_resident_memory_bytes"));
    EXPECT_THAT(*body, HasSubstr("switchboard_grpc_server_started_total"));
    const std::string file = NewTempDir("metrics") + "/" + service + ".txt";
    WriteFile(file, *body);
    auto [rc, out] = RunShell(absl::StrCat("promtool check metrics < ", file));
    EXPECT_EQ(rc, 0) << "promtool check metrics:\n" << out;
  }
}

// A real Prometheus server on loopback, scraping `targets` every second.
class PrometheusServer {
 public:
  explicit PrometheusServer(const std::vector<int>& targets) {
    dir_ = NewTempDir("prometheus");
    std::string list;
    for (int port : targets) {
      absl::StrAppend(&list, list.empty() ? "" : ", ", "'127.0.0.1:", port,
                      "'");
    }
    WriteFile(dir_ + "/prometheus.yml",
              absl::StrCat("global:\n  scrape_interval: 1s\n"
                           "scrape_configs:\n"
                           "  - job_name: switchboard\n"
                           "    static_configs:\n"
                           "      - targets: [",
                           list, "]\n"));
    port_ = PickFreePort();
    Process::Options o;
    o.stdout_path = dir_ + "/log";
    o.stderr_path = dir_ + "/log";
    auto p =
        Process::Start("/usr/bin/prometheus",
                       {"--config.file=" + dir_ + "/prometheus.yml",
                        "--storage.tsdb.path=" + dir_ + "/data",
                        absl::StrCat("--web.listen-address=127.0.0.1:", port_)},
                       o);
    EXPECT_TRUE(p.ok()) << p.status();
    if (p.ok()) process_ = *std::move(p);
  }

  bool Ready() {
    return Eventually([&] { return HttpGet(port_, "/-/ready").ok(); }, kWait);
  }
  std::string Log() const { return ReadFile(dir_ + "/log"); }

  // The instant query's samples: labels (as "k=v,k=v") → value; empty on
  // any error.
  std::map<std::string, double> Query(const std::string& promql) {
    std::string encoded = absl::StrReplaceAll(promql, {{"%", "%25"},
                                                       {" ", "%20"},
                                                       {"{", "%7B"},
                                                       {"}", "%7D"},
                                                       {"\"", "%22"},
                                                       {"=", "%3D"},
                                                       {"+", "%2B"},
                                                       {",", "%2C"},
                                                       {"(", "%28"},
                                                       {")", "%29"},
                                                       {"[", "%5B"},
                                                       {"]", "%5D"}});
    absl::StatusOr<std::string> body =
        HttpGet(port_, "/api/v1/query?query=" + encoded);
    std::map<std::string, double> out;
    google::protobuf::Struct json;
    if (!body.ok() ||
        !google::protobuf::util::JsonStringToMessage(*body, &json).ok()) {
      return out;
    }
    const auto& result =
        json.fields().at("data").struct_value().fields().at("result");
    for (const auto& sample : result.list_value().values()) {
      const auto& f = sample.struct_value().fields();
      std::string labels;
      for (const auto& [k, v] : f.at("metric").struct_value().fields()) {
        if (k == "__name__" || k == "instance" || k == "job") continue;
        absl::StrAppend(&labels, labels.empty() ? "" : ",", k, "=",
                        v.string_value());
      }
      out[labels] =
          std::stod(f.at("value").list_value().values(1).string_value());
    }
    return out;
  }

  // Polls `promql` until its samples are `want`.
  bool Expect(const std::string& promql, std::map<std::string, double> want,
              std::map<std::string, double>* last) {
    return Eventually(
        [&] {
          *last = Query(promql);
          return *last == want;
        },
        kWait);
  }

 private:
  std::string dir_;
  int port_ = 0;
  std::unique_ptr<Process> process_;
};

std::string Show(const std::map<std::string, double>& m) {
  std::string out;
  for (const auto& [k, v] : m) absl::StrAppend(&out, "{", k, "}=", v, " ");
  return out;
}

TEST(MetricsTest, PrometheusScrapesExactCounts) {
  auto cluster = Cluster::Start(WithMetrics());
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  std::vector<int> targets;
  for (const char* service : kServices) {
    targets.push_back((*cluster)->MetricsPort(service));
    ASSERT_GT(targets.back(), 0) << (*cluster)->Log(service);
  }
  PrometheusServer prometheus(targets);
  ASSERT_TRUE(prometheus.Ready()) << prometheus.Log();

  // 50 events to app.a, 30 to app.b (and all 80 to verbose). An app with
  // credit 20 on app.a acks the first 20 it gets, and then holds the next
  // 20 unacked: 40 deliveries, 20 acks, 10 ready, 20 unacked.
  constexpr int kA = 50, kB = 30, kCredit = 20;
  ASSERT_TRUE(
      Publish((*cluster)->broadcaster_address(), MakeEvents("a", "t.x", kA))
          .ok());
  ASSERT_TRUE(
      Publish((*cluster)->broadcaster_address(), MakeEvents("b", "t.x", kB))
          .ok());
  ASSERT_TRUE((*cluster)->AwaitDepth("app.a", kA));
  auto app = Subscriber::Open((*cluster)->consumer_address(), {"app.a"},
                              kCredit, /*auto_ack=*/false);
  ASSERT_TRUE(app.ok()) << app.status();
  std::vector<uint64_t> tags;
  for (const auto& d : (*app)->WaitFor(kCredit)) tags.push_back(d.tag());
  ASSERT_EQ(tags.size(), static_cast<size_t>(kCredit));
  (*app)->Ack(tags);
  ASSERT_EQ((*app)->WaitFor(2 * kCredit).size(),
            static_cast<size_t>(2 * kCredit));

  std::map<std::string, double> got;
  EXPECT_TRUE(prometheus.Expect("switchboard_broadcaster_events_accepted_total",
                                {{"", kA + kB}}, &got))
      << Show(got);
  EXPECT_TRUE(prometheus.Expect(
      "switchboard_broadcaster_events_forwarded_total", {{"", kA + kB}}, &got))
      << Show(got);
  EXPECT_TRUE(prometheus.Expect("switchboard_bridge_events_confirmed_total",
                                {{"", kA + kB}}, &got))
      << Show(got);
  EXPECT_TRUE(prometheus.Expect(
      "switchboard_bridge_queue_depth{queue=~\"app.a|app.b|verbose\"}",
      {{"queue=app.a", kA - 2 * kCredit},
       {"queue=app.b", kB},
       {"queue=verbose", kA + kB}},
      &got))
      << Show(got);
  EXPECT_TRUE(
      prometheus.Expect("switchboard_bridge_queue_unacked{queue=\"app.a\"}",
                        {{"queue=app.a", kCredit}}, &got))
      << Show(got);
  EXPECT_TRUE(prometheus.Expect("switchboard_consumer_acks_total",
                                {{"queue=app.a", kCredit}}, &got))
      << Show(got);
  EXPECT_TRUE(prometheus.Expect("switchboard_consumer_deliveries_total",
                                {{"queue=app.a", 2 * kCredit}}, &got))
      << Show(got);
  EXPECT_TRUE(prometheus.Expect(
      "sum(switchboard_consumer_end_to_end_latency_seconds_count)",
      {{"", 2 * kCredit}}, &got))
      << Show(got);
  EXPECT_TRUE(
      prometheus.Expect("switchboard_consumer_subscriptions", {{"", 1}}, &got))
      << Show(got);
  // The broadcaster served two Publish streams, both OK.
  EXPECT_TRUE(prometheus.Expect(
      "switchboard_grpc_server_handled_total{grpc_method=\"Publish\"}",
      {{"grpc_code=OK,grpc_method=Publish,grpc_service=switchboard.v1."
        "Broadcaster,grpc_type=bidi_stream",
        2}},
      &got))
      << Show(got);
  EXPECT_TRUE(prometheus.Expect("count(up == 1)", {{"", 3}}, &got))
      << Show(got);
}

// The metric names a /metrics text exposes (a histogram's _bucket, _sum and
// _count included).
std::set<std::string> ExportedNames(const std::string& text) {
  std::set<std::string> names;
  static const std::regex kType("^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\\w+)$");
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (!std::regex_match(line, m, kType)) continue;
    names.insert(m[1]);
    if (m[2] == "histogram") {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        names.insert(std::string(m[1]) + suffix);
      }
    }
  }
  return names;
}

// Every metric the Grafana dashboard and the alert rules name is one that a
// service exports.
TEST(MetricsTest, DashboardAndAlertsUseOnlyExportedMetrics) {
  Cluster::Options options = WithMetrics();
  // A configured region, so that the region metrics have a sample.
  options.broadcaster_yaml += "regions:\n  known: [a]\n";
  auto cluster = Cluster::Start(options);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  ASSERT_TRUE(Publish((*cluster)->broadcaster_address(),
                      MakeEvents("kytos/topology", "kytos.link_up", 5))
                  .ok());
  std::set<std::string> exported;
  for (const char* service : kServices) {
    absl::StatusOr<std::string> body =
        HttpGet((*cluster)->MetricsPort(service), "/metrics");
    ASSERT_TRUE(body.ok()) << service << ": " << body.status();
    std::set<std::string> names = ExportedNames(*body);
    exported.insert(names.begin(), names.end());
  }
  ASSERT_TRUE(exported.count("switchboard_broadcaster_region_up"))
      << "no region metrics: the check below would be weaker";
  static const std::regex kName("\\b(switchboard|process)_[a-z0-9_]+\\b");
  for (const char* file : {"deploy/monitoring/grafana-dashboard.json",
                           "deploy/monitoring/alerts.yml"}) {
    SCOPED_TRACE(file);
    const std::string text = ReadFile(Runfile(file));
    ASSERT_FALSE(text.empty());
    int used = 0;
    for (std::sregex_iterator it(text.begin(), text.end(), kName), end;
         it != end; ++it) {
      ++used;
      EXPECT_TRUE(exported.count(it->str()))
          << it->str() << " is not exported by any service";
    }
    EXPECT_GT(used, 5);
  }
}

// log.format json: every line the consumer writes is one JSON object with
// time, level, component, message and fields, at log.level or above; a
// reload switches to text (the consumer reloads nothing else, and log.*
// still apply).
TEST(LogsTest, JsonLinesAtTheLevelAndBackToTextByReload) {
  Cluster::Options options;
  options.consumer_yaml += "log:\n  format: json\n  level: warn\n";
  auto cluster = Cluster::Start(options);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  auto lines = [&] {
    std::vector<std::string> out;
    std::istringstream in((*cluster)->Log("consumer"));
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  };
  // The consumer cannot reload its settings: an error line.
  (void)ReloadSettings((*cluster)->consumer_address());
  ASSERT_TRUE(Eventually([&] { return !lines().empty(); }));
  const std::vector<std::string> json_lines = lines();
  bool admin_error = false;
  for (const std::string& line : json_lines) {
    google::protobuf::Struct json;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &json).ok())
        << "not a JSON object: " << line;
    const auto& f = json.fields();
    for (const char* key : {"time", "level", "component", "message"}) {
      EXPECT_FALSE(f.at(key).string_value().empty()) << key << " in " << line;
    }
    EXPECT_GT(f.at("fields").struct_value().fields().at("pid").number_value(),
              0);
    // The start-up lines are info: below log.level.
    EXPECT_NE(f.at("level").string_value(), "info") << line;
    admin_error |= f.at("level").string_value() == "error" &&
                   f.at("component").string_value() == "admin";
  }
  EXPECT_TRUE(admin_error) << (*cluster)->Log("consumer");

  (*cluster)->RewriteConfig(
      "consumer", Cluster::Options().consumer_yaml + "log: {format: text}\n");
  (void)ReloadSettings((*cluster)->consumer_address());
  // The reload's own line, in text now.
  std::string refused;
  EXPECT_TRUE(Eventually([&] {
    const std::vector<std::string> now = lines();
    for (size_t i = json_lines.size(); i < now.size(); ++i) {
      if (now[i].find("(log.* applied)") != std::string::npos) {
        refused = now[i];
        return true;
      }
    }
    return false;
  })) << (*cluster)->Log("consumer");
  EXPECT_NE(refused[0], '{') << refused;
  EXPECT_THAT(refused, HasSubstr("[admin]"));
}

// switchboardctl status --json over the three services: healthy, the
// transport, the deepest queues; then, with the bridge killed, unhealthy
// with the bridge unreachable and the broadcaster disconnected.
TEST(StatusTest, SwitchboardctlStatusShowsTheWholeSystem) {
  auto cluster = Cluster::Start(Cluster::Options());
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  ASSERT_TRUE(Publish((*cluster)->broadcaster_address(),
                      MakeEvents("kytos/topology", "kytos.link_up", 7))
                  .ok());
  const std::string status =
      absl::StrCat(Runfile("tools/switchboardctl/switchboardctl"),
                   " status --json --top=2 --timeout=5s --broadcaster=",
                   (*cluster)->broadcaster_address(),
                   " --consumer=", (*cluster)->consumer_address(),
                   " --bridge=", (*cluster)->bridge_address());
  google::protobuf::Struct json;
  // Not a structured binding: the lambda below captures them (C++17).
  int rc;
  std::string out;
  std::tie(rc, out) = RunShell(status);
  ASSERT_EQ(rc, 0) << out;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out, &json).ok())
      << out;
  const auto& f = json.fields();
  EXPECT_TRUE(f.at("healthy").bool_value()) << out;
  EXPECT_TRUE(f.at("bridgeConnected").bool_value()) << out;
  EXPECT_EQ(
      f.at("transport").struct_value().fields().at("driver").string_value(),
      "memory");
  EXPECT_EQ(f.at("accepted").number_value(), 7);
  EXPECT_GT(
      f.at("buffer").struct_value().fields().at("limitEvents").number_value(),
      0);
  const auto& queues = f.at("queues").list_value();
  ASSERT_EQ(queues.values_size(), 2) << out;  // --top=2
  for (const auto& q : queues.values()) {
    EXPECT_EQ(q.struct_value().fields().at("depth").number_value(), 7) << out;
  }
  for (const char* service : kServices) {
    EXPECT_EQ(f.at("services")
                  .struct_value()
                  .fields()
                  .at(service)
                  .struct_value()
                  .fields()
                  .at("health")
                  .string_value(),
              "SERVING")
        << service;
  }

  // The text form says the same.
  std::tie(rc, out) = RunShell(absl::StrReplaceAll(status, {{" --json", ""}}));
  EXPECT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("transport: memory"));
  EXPECT_THAT(out, HasSubstr("status: healthy"));

  (*cluster)->bridge().Signal(SIGKILL);
  ASSERT_TRUE((*cluster)->bridge().Wait(kWait).has_value());
  EXPECT_TRUE(Eventually(
      [&] {
        std::tie(rc, out) = RunShell(status);
        json.Clear();
        return rc == 1 &&
               google::protobuf::util::JsonStringToMessage(out, &json).ok() &&
               !json.fields().at("bridgeConnected").bool_value();
      },
      kWait))
      << out;
  EXPECT_FALSE(json.fields().at("healthy").bool_value());
  EXPECT_EQ(json.fields()
                .at("services")
                .struct_value()
                .fields()
                .at("bridge")
                .struct_value()
                .fields()
                .at("health")
                .string_value(),
            "UNREACHABLE")
      << out;
}

// With region tracking off the broadcaster has no regions to list: status
// leaves them out and stays healthy.
TEST(StatusTest, RegionsOffIsHealthy) {
  Cluster::Options options;
  options.broadcaster_yaml += "regions:\n  enabled: false\n";
  auto cluster = Cluster::Start(options);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  auto [rc, out] =
      RunShell(absl::StrCat(Runfile("tools/switchboardctl/switchboardctl"),
                            " status --timeout=5s --broadcaster=",
                            (*cluster)->broadcaster_address()));
  EXPECT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("status: healthy"));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("regions:")));
  EXPECT_THAT(out, HasSubstr("consumer: not asked (--consumer)"));
}

}  // namespace
}  // namespace switchboard::testing
