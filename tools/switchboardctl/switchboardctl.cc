// switchboardctl: the command line client for switchboard's broadcaster and
// consumer services. See kUsage below, or run `switchboardctl --help`.

#include <cstdlib>
#include <cstdint>
#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "services/common/queue_name.h"
#include "switchboard/v1/broadcaster.grpc.pb.h"
#include "switchboard/v1/consumer.grpc.pb.h"
#include "tools/common/credential_flags.h"
#include "tools/switchboardctl/command_line.h"
#include "tools/switchboardctl/commands.h"
#include "tools/switchboardctl/event_input.h"
#include "tools/switchboardctl/status.h"

ABSL_FLAG(std::string, broadcaster, "",
          "publish, stats: the broadcaster's address, HOST:PORT (or "
          "unix:PATH).");
ABSL_FLAG(std::string, consumer, "",
          "tail, queues: the consumer service's address, HOST:PORT (or "
          "unix:PATH).");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10),
          "Deadline for connecting and for unary calls (queues, stats), e.g. "
          "500ms, 10s, 1m.");

ABSL_FLAG(std::string, bridge, "",
          "status: the mq-bridge's address, HOST:PORT (or unix:PATH); by "
          "default it is not asked.");
ABSL_FLAG(int64_t, top, 10, "status: the deepest queues listed.");
ABSL_FLAG(std::string, watch, "",
          "status: refresh every interval (bare --watch: 2s) until "
          "interrupted.");
ABSL_FLAG(std::string, type, "",
          "publish: the event's type, e.g. kytos/topology.link_down.");
ABSL_FLAG(std::string, source, "",
          "publish: the producing app, e.g. kytos/topology.");
ABSL_FLAG(std::string, subject, "",
          "publish: what the event is about (a switch or link id); defaults "
          "to the --link id.");
ABSL_FLAG(std::string, attr, "",
          "publish: string attributes, k=v,k2=v2 (values cannot hold ',').");
ABSL_FLAG(std::string, json, "",
          "publish: a JSON object for the event's json_data payload, e.g. "
          "--json='{\"a\":1}'. queues: bare --json prints JSON instead of a "
          "table.");
ABSL_FLAG(std::string, link, "",
          "publish: a link id; the payload becomes link_status (needs "
          "--link_state).");
ABSL_FLAG(std::string, link_state, "",
          "publish: up or down, the state for --link.");
ABSL_FLAG(std::optional<int64_t>, count, std::nullopt,
          "publish: copies of the event to send (default 1). tail: "
          "deliveries to print before exiting (default 0: forever).");
ABSL_FLAG(int64_t, batch, 100, "publish: events per PublishRequest.");
ABSL_FLAG(bool, confirm, false,
          "publish: acceptance CONFIRMED - each batch is answered once the "
          "transport has confirmed every event (slower; nothing answered as "
          "accepted is lost if a switchboard process crashes).");
ABSL_FLAG(bool, stdin, false,
          "publish: read events from stdin instead, one JSON object per line "
          "in the proto3 JSON mapping of switchboard.v1.Event.");
ABSL_FLAG(bool, print_ids, false,
          "publish: print each accepted event's id on stdout.");

ABSL_FLAG(std::vector<std::string>, queue, {},
          "tail: the queues to subscribe to (required). queues: list only "
          "these. Comma-separated.");
ABSL_FLAG(int64_t, credit, 100,
          "tail: the most deliveries held unacked at once, 1 to 65535 (0: "
          "the service's default).");
ABSL_FLAG(bool, no_ack, false,
          "tail: do not ack; the deliveries go back to their queues when "
          "tail ends.");

namespace switchboard::ctl {
namespace {

constexpr char kUsage[] =
    R"(the command line client for switchboard.

Usage:
  switchboardctl publish --broadcaster=HOST:PORT [--source=S --type=T]
      [--subject=X] [--attr=k=v,k2=v2]
      [--json='{...}' | --link=ID --link_state=up|down]
      [--count=N] [--batch=B] [--confirm] [--print_ids]
  switchboardctl publish --broadcaster=HOST:PORT --stdin [--batch=B]
      [--confirm] [--print_ids] < events.jsonl
  switchboardctl tail --consumer=HOST:PORT --queue=Q[,Q2...] [--credit=N]
      [--count=N] [--no_ack]
  switchboardctl queues --consumer=HOST:PORT [--queue=Q[,Q2...]] [--json]
  switchboardctl stats --broadcaster=HOST:PORT
  switchboardctl status [--broadcaster=HOST:PORT] [--consumer=HOST:PORT]
      [--bridge=HOST:PORT] [--top=N] [--json] [--watch[=2s]]

Subcommands:
  publish  publish events to the broadcaster (Broadcaster.Publish)
  tail     print deliveries from queues as JSON lines (Consumer.Subscribe)
  queues   list queues with depth and subscribers (Consumer.ListQueues)
  stats    print the broadcaster's counters as JSON (Broadcaster.GetStats)
  status   the health of each service, buffer fill, bridge and transport
           connection, the deepest queues, regions up and down; exit 0
           when every service asked is SERVING, else 1

Every subcommand takes --timeout (default 10s): the deadline for connecting
and for unary calls; and, for services with TLS or auth (README, Security),
--tls_ca_file, --tls_cert_file, --tls_key_file, --tls_server_name and
--token_file (or SWITCHBOARD_TOKEN in the environment). Exit codes: 0
success, 1 failure (RPC error, rejected event, malformed input line), 2
usage error.)";

constexpr char kSubcommands[] = "publish, tail, queues, stats, status";

// `flags` plus the credential flags, which every subcommand takes.
std::set<std::string>* WithCredentialFlags(std::set<std::string> flags) {
  const std::set<std::string>& credentials = tools::CredentialFlagNames();
  flags.insert(credentials.begin(), credentials.end());
  return new std::set<std::string>(std::move(flags));
}

// The tool's own flags, and which subcommand takes which.
const std::set<std::string>& OwnFlags() {
  static const auto* flags = WithCredentialFlags(
      {"broadcaster", "consumer", "timeout", "type", "source", "subject",
       "attr", "json", "link", "link_state", "count", "batch", "stdin",
       "print_ids", "queue", "credit", "no_ack", "confirm", "bridge", "top",
       "watch"});
  return *flags;
}

const std::set<std::string>* AllowedFlags(const std::string& subcommand) {
  static const auto* publish = WithCredentialFlags(
      {"broadcaster", "timeout", "type", "source", "subject", "attr", "json",
       "link", "link_state", "count", "batch", "stdin", "print_ids",
       "confirm"});
  static const auto* tail = WithCredentialFlags(
      {"consumer", "timeout", "queue", "credit", "count", "no_ack"});
  static const auto* queues =
      WithCredentialFlags({"consumer", "timeout", "queue", "json"});
  static const auto* stats = WithCredentialFlags({"broadcaster", "timeout"});
  static const auto* status = WithCredentialFlags(
      {"broadcaster", "consumer", "bridge", "timeout", "top", "json",
       "watch"});
  if (subcommand == "publish") return publish;
  if (subcommand == "tail") return tail;
  if (subcommand == "queues") return queues;
  if (subcommand == "stats") return stats;
  if (subcommand == "status") return status;
  return nullptr;
}

int Fail(const absl::Status& status) {
  std::cerr << "switchboardctl: " << status.message() << std::endl;
  return 1;
}

// Connects with the credential flags (their errors name the flag).
absl::StatusOr<std::shared_ptr<grpc::Channel>> ConnectWithFlags(
    const std::string& address) {
  absl::StatusOr<ClientCredentials> credentials = tools::CredentialsFromFlags();
  if (!credentials.ok()) return credentials.status();
  return Connect(address, absl::GetFlag(FLAGS_timeout), *credentials);
}

int Usage(absl::string_view message) {
  std::cerr << "switchboardctl: " << message << "\n"
            << "Run 'switchboardctl --help' for usage." << std::endl;
  return 2;
}

absl::Status RequireAddress(absl::string_view flag, const std::string& value) {
  if (value.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, "=HOST:PORT is required"));
  }
  return absl::OkStatus();
}

absl::Status CheckQueues(const std::vector<std::string>& queues) {
  for (const std::string& queue : queues) {
    if (absl::Status s = ValidateQueueName(queue); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--queue: ", s.message()));
    }
  }
  return absl::OkStatus();
}

// --queue's value: a comma-separated list; given more than once, the lists
// add up (absl alone would keep the last one).
std::vector<std::string> QueueFlag(const PreParsedCommandLine& pre) {
  auto it = pre.values.find("queue");
  if (it == pre.values.end() || it->second.size() < 2) {
    return absl::GetFlag(FLAGS_queue);
  }
  std::vector<std::string> queues;
  for (const std::string& value : it->second) {
    for (absl::string_view queue :
         absl::StrSplit(value, ',', absl::SkipEmpty())) {
      queues.emplace_back(queue);
    }
  }
  return queues;
}

int RunPublish() {
  const std::string address = absl::GetFlag(FLAGS_broadcaster);
  if (absl::Status s = RequireAddress("broadcaster", address); !s.ok()) {
    return Usage(s.message());
  }
  PublishOptions options;
  const int64_t batch = absl::GetFlag(FLAGS_batch);
  if (batch < 1 || batch > 1000000) {
    return Usage("--batch must be between 1 and 1000000");
  }
  options.batch_size = static_cast<int>(batch);
  options.print_ids = absl::GetFlag(FLAGS_print_ids);
  options.confirm = absl::GetFlag(FLAGS_confirm);

  EventFlags flags;
  flags.type = absl::GetFlag(FLAGS_type);
  flags.source = absl::GetFlag(FLAGS_source);
  flags.subject = absl::GetFlag(FLAGS_subject);
  flags.attr = absl::GetFlag(FLAGS_attr);
  flags.json = absl::GetFlag(FLAGS_json);
  flags.link = absl::GetFlag(FLAGS_link);
  flags.link_state = absl::GetFlag(FLAGS_link_state);
  const std::optional<int64_t> count = absl::GetFlag(FLAGS_count);

  if (absl::GetFlag(FLAGS_stdin)) {
    for (const auto& [name, value] :
         {std::pair<const char*, const std::string*>{"type", &flags.type},
          {"source", &flags.source},
          {"subject", &flags.subject},
          {"attr", &flags.attr},
          {"json", &flags.json},
          {"link", &flags.link},
          {"link_state", &flags.link_state}}) {
      if (!value->empty()) {
        return Usage(
            absl::StrCat("--", name,
                         " cannot be combined with --stdin; the events come "
                         "whole from stdin"));
      }
    }
    if (count.has_value()) {
      return Usage("--count cannot be combined with --stdin");
    }
    options.input = &std::cin;
  } else {
    absl::StatusOr<v1::Event> event = BuildEvent(flags);
    if (!event.ok()) return Usage(event.status().message());
    options.event = *std::move(event);
    options.count = count.value_or(1);
    if (options.count < 1) return Usage("--count must be at least 1");
  }

  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      ConnectWithFlags(address);
  if (!channel.ok()) return Fail(channel.status());
  auto stub = v1::Broadcaster::NewStub(*channel);
  PublishSummary summary;
  const absl::Status status =
      Publish(*stub, options, std::cout, std::cerr, &summary);
  std::cout.flush();
  if (!status.ok()) {
    std::cerr << "switchboardctl: " << status.message() << "\n";
  }
  std::cerr << summary.ToString() << std::endl;
  return status.ok() && summary.rejected == 0 && summary.malformed_lines == 0
             ? 0
             : 1;
}

int RunTail(const PreParsedCommandLine& pre) {
  const std::string address = absl::GetFlag(FLAGS_consumer);
  if (absl::Status s = RequireAddress("consumer", address); !s.ok()) {
    return Usage(s.message());
  }
  TailOptions options;
  options.queues = QueueFlag(pre);
  if (options.queues.empty()) return Usage("--queue=Q[,Q2...] is required");
  if (absl::Status s = CheckQueues(options.queues); !s.ok()) {
    return Usage(s.message());
  }
  const int64_t credit = absl::GetFlag(FLAGS_credit);
  if (credit < 0 || credit > 65535) {
    return Usage("--credit must be between 1 and 65535 (0: the default)");
  }
  options.credit = static_cast<uint32_t>(credit);
  options.count = absl::GetFlag(FLAGS_count).value_or(0);
  if (options.count < 0) return Usage("--count must be 0 (forever) or more");
  options.ack = !absl::GetFlag(FLAGS_no_ack);
  if (!options.ack && credit > 0 && options.count > credit) {
    return Usage(absl::StrCat("with --no_ack at most --credit=", credit,
                              " deliveries arrive, so --count=", options.count,
                              " would wait forever"));
  }
  options.close_timeout = absl::GetFlag(FLAGS_timeout);

  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      ConnectWithFlags(address);
  if (!channel.ok()) return Fail(channel.status());
  auto stub = v1::Consumer::NewStub(*channel);
  if (absl::Status s = Tail(*stub, options, std::cout); !s.ok()) {
    return Fail(s);
  }
  return 0;
}

// --json is a string flag (publish's payload); for `subcommand` it is a
// switch, which PreParseCommandLine turns into "true" when given bare.
absl::StatusOr<bool> JsonSwitch(absl::string_view subcommand) {
  bool json = false;
  const std::string json_flag = absl::GetFlag(FLAGS_json);
  if (!json_flag.empty() && !absl::SimpleAtob(json_flag, &json)) {
    return absl::InvalidArgumentError(
        absl::StrCat(subcommand, " takes a bare --json (or --json=true), "
                     "not --json=", json_flag));
  }
  return json;
}

int RunQueues(const PreParsedCommandLine& pre) {
  const std::string address = absl::GetFlag(FLAGS_consumer);
  if (absl::Status s = RequireAddress("consumer", address); !s.ok()) {
    return Usage(s.message());
  }
  const std::vector<std::string> queues = QueueFlag(pre);
  if (absl::Status s = CheckQueues(queues); !s.ok()) return Usage(s.message());
  absl::StatusOr<bool> json = JsonSwitch("queues");
  if (!json.ok()) return Usage(json.status().message());
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      ConnectWithFlags(address);
  if (!channel.ok()) return Fail(channel.status());
  auto stub = v1::Consumer::NewStub(*channel);
  if (absl::Status s = ListQueues(*stub, queues, *json,
                                  absl::GetFlag(FLAGS_timeout), std::cout);
      !s.ok()) {
    return Fail(s);
  }
  return 0;
}

int RunStats() {
  const std::string address = absl::GetFlag(FLAGS_broadcaster);
  if (absl::Status s = RequireAddress("broadcaster", address); !s.ok()) {
    return Usage(s.message());
  }
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      ConnectWithFlags(address);
  if (!channel.ok()) return Fail(channel.status());
  auto stub = v1::Broadcaster::NewStub(*channel);
  if (absl::Status s =
          PrintStats(*stub, absl::GetFlag(FLAGS_timeout), std::cout);
      !s.ok()) {
    return Fail(s);
  }
  return 0;
}

int RunStatus() {
  StatusOptions options;
  options.broadcaster = absl::GetFlag(FLAGS_broadcaster);
  options.consumer = absl::GetFlag(FLAGS_consumer);
  options.bridge = absl::GetFlag(FLAGS_bridge);
  if (options.broadcaster.empty() && options.consumer.empty() &&
      options.bridge.empty()) {
    return Usage(
        "status needs at least one of --broadcaster, --consumer, --bridge");
  }
  const int64_t top = absl::GetFlag(FLAGS_top);
  if (top < 1 || top > 1000) return Usage("--top must be 1 to 1000");
  options.top = static_cast<int>(top);
  absl::StatusOr<bool> json = JsonSwitch("status");
  if (!json.ok()) return Usage(json.status().message());
  absl::Duration every = absl::ZeroDuration();
  if (const std::string watch = absl::GetFlag(FLAGS_watch); !watch.empty()) {
    bool on = false;
    if (absl::SimpleAtob(watch, &on)) {
      every = on ? absl::Seconds(2) : absl::ZeroDuration();
    } else if (!absl::ParseDuration(watch, &every) ||
               every < absl::Milliseconds(100)) {
      return Usage(absl::StrCat("--watch takes an interval of at least 100ms "
                                "(e.g. --watch=5s), not '",
                                watch, "'"));
    }
  }
  absl::StatusOr<ClientCredentials> credentials = tools::CredentialsFromFlags();
  if (!credentials.ok()) return Fail(credentials.status());
  options.credentials = *credentials;
  options.timeout = absl::GetFlag(FLAGS_timeout);
  for (;;) {
    const StatusReport report = CollectStatus(options);
    if (every > absl::ZeroDuration() && !*json) {
      std::cout << "\033[H\033[2J" << absl::FormatTime(absl::Now()) << "\n";
    }
    if (*json) {
      absl::StatusOr<std::string> text = StatusJson(report);
      if (!text.ok()) return Fail(text.status());
      std::cout << *text << std::endl;
    } else {
      PrintStatus(report, std::cout);
    }
    if (every == absl::ZeroDuration()) return report.healthy() ? 0 : 1;
    absl::SleepFor(every);
  }
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  absl::FlagsUsageConfig usage_config;
  // --help lists this file's flags, whatever the binary is called.
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "switchboardctl");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);

  absl::StatusOr<PreParsedCommandLine> pre = PreParseCommandLine(
      std::vector<std::string>(argv, argv + argc),
      /*switch_like=*/{"json", "watch"});
  if (!pre.ok()) return Usage(pre.status().message());

  std::vector<char*> args;
  for (std::string& arg : pre->args) args.push_back(arg.data());
  args.push_back(nullptr);
  absl::ParseCommandLine(static_cast<int>(args.size()) - 1, args.data());

  if (pre->positional.empty()) {
    return Usage(
        absl::StrCat("missing subcommand; expected one of ", kSubcommands));
  }
  const std::string& subcommand = pre->positional.front();
  const std::set<std::string>* allowed = AllowedFlags(subcommand);
  if (allowed == nullptr) {
    return Usage(absl::StrCat("unknown subcommand '", subcommand,
                              "'; expected one of ", kSubcommands));
  }
  if (pre->positional.size() > 1) {
    return Usage(absl::StrCat("unexpected argument '", pre->positional[1],
                              "' after '", subcommand, "'"));
  }
  if (absl::Status s =
          CheckFlagsApply(subcommand, pre->flags_given, OwnFlags(), *allowed);
      !s.ok()) {
    return Usage(s.message());
  }
  if (absl::GetFlag(FLAGS_timeout) <= absl::ZeroDuration()) {
    return Usage("--timeout must be positive");
  }

  if (subcommand == "publish") return RunPublish();
  if (subcommand == "tail") return RunTail(*pre);
  if (subcommand == "queues") return RunQueues(*pre);
  if (subcommand == "status") return RunStatus();
  return RunStats();
}

}  // namespace
}  // namespace switchboard::ctl

int main(int argc, char** argv) { return switchboard::ctl::Main(argc, argv); }
