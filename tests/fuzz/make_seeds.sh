#!/usr/bin/env bash
# Writes the hand-made seeds of corpus/ (the inputs of crashes found are
# added by hand, named crash-*, and never rewritten here). Protobuf seeds
# are encoded from text format with Debian's protoc.
set -euo pipefail
cd "$(dirname "$0")"
protos=../../protos

encode() {  # corpus name message: text format on stdin
  mkdir -p "corpus/$1"
  protoc -I "$protos" -I /usr/include --encode="$3" \
    switchboard/v1/broadcaster.proto switchboard/v1/event.proto \
    >"corpus/$1/$2"
}

# --- delivery_fuzzer: Event bodies as a transport delivers them.
encode delivery_fuzzer link_status switchboard.v1.Event <<'T'
id: "4185776b-dea2-4600-88ef-0fbf57e65c98" source: "kytos/topology"
type: "kytos/topology.link_down" time { seconds: 1796299200 nanos: 5 }
sequence: 7 subject: "s1:eth1-s2:eth1"
attributes { key: "switchboard.link_id" value: "s1:eth1-s2:eth1" }
attributes { key: "switchboard.link_state" value: "DOWN" }
link_status { link_id: "s1:eth1-s2:eth1" state: DOWN }
T
encode delivery_fuzzer typed_link switchboard.v1.Event <<'T'
id: "e2" source: "onos" type: "link" link_status { link_id: "a b/c" state: UP
endpoint_a { switch_id: "s1" port: 1 } endpoint_b { switch_id: "s2" port: 2 } }
T
encode delivery_fuzzer bad_state switchboard.v1.Event <<'T'
id: "e3" source: "x" type: "y"
attributes { key: "switchboard.link_id" value: "l1" }
attributes { key: "switchboard.link_state" value: "SIDEWAYS" }
T
encode delivery_fuzzer json switchboard.v1.Event <<'T'
id: "e4" source: "kytos/of_core" type: "kytos/of_core.port.down" subject: "s1"
json_data { fields { key: "port" value { number_value: 3 } }
fields { key: "link" value { struct_value { fields { key: "id" value { string_value: "l9" } } } } } }
T
encode delivery_fuzzer switch switchboard.v1.Event <<'T'
id: "e5" source: "switchboard/regions" type: "switchboard.switch.connected" subject: "s1"
switch_status { switch_id: "s1" change: CONNECTED region: "r1" mode: RW
connections { region: "r1" ip: "10.0.0.1" mode: RW uptime_seconds: 5 } }
T

# --- publish_fuzzer: PublishRequests.
encode publish_fuzzer kytos switchboard.v1.PublishRequest <<'T'
batch_id: 1
events { source: "kytos/topology" type: "kytos/topology.link_down"
  subject: "s1:eth1-s2:eth1"
  json_data { fields { key: "link" value { struct_value { fields { key: "id" value { string_value: "s1:eth1-s2:eth1" } } } } } } }
events { source: "kytos/topology" type: "kytos/topology.link_up" subject: "s1:eth1-s2:eth1" }
events { source: "kytos/topology" type: "" }
events { source: "kytos/of_core" type: "kytos/of_core.v0x04.messages.in.ofpt_echo" }
events { id: "1" source: "a.b c" type: "t" sequence: 9 attributes { key: "k" value: "v" } binary_data: "\001\002" }
T
encode publish_fuzzer regions switchboard.v1.PublishRequest <<'T'
batch_id: 2
events { source: "speaker/r1" type: "switch" switch_status { switch_id: "s1" change: CONNECTED region: "r1" ip: "10.0.0.1" mode: RW } }
events { source: "speaker/r2" type: "switch" switch_status { switch_id: "s1" change: CONNECTED region: "r2" mode: RO } }
events { source: "speaker/r1" type: "port" port_status { switch_id: "s1" port: 3 state: DOWN region: "r1" } }
events { source: "speaker/r2" type: "hb" heartbeat { region: "r2" uptime_seconds: 10 } }
events { source: "app" type: "flow" command { name: "flow_mod" target_switches: "s1" target_switches: "s9" body: "x" } }
events { source: "app" type: "flow" command { name: "all" broadcast: true } }
events { source: "speaker/r1" type: "switch" switch_status { switch_id: "s1" change: DISCONNECTED region: "r1" } }
T
encode publish_fuzzer link_typed switchboard.v1.PublishRequest <<'T'
batch_id: 3
events { source: "onos" type: "link" time { seconds: 1796299200 }
  link_status { link_id: "of:1/2-of:3/4" state: DOWN } }
events { source: "onos" type: "link" attributes { key: "switchboard.link_id" value: "forged" } }
T

# --- queue_name_fuzzer: a prefix byte, then text ('\0' splits two texts).
mkdir -p corpus/queue_name_fuzzer
printf '\000kytos/topology' >corpus/queue_name_fuzzer/app_source
printf '\001s1:eth1-s2:eth1' >corpus/queue_name_fuzzer/link_id
printf '\000kytos.topology\000kytos/topology' >corpus/queue_name_fuzzer/dot_vs_slash
printf '\002a:0123456789abcdef' >corpus/queue_name_fuzzer/hash_like
printf '\004%0300d' 0 >corpus/queue_name_fuzzer/long_prefix_long_text
printf '\003caf\303\251 \001' >corpus/queue_name_fuzzer/unsafe

# --- config_fuzzer: the example configs and a few small ones.
mkdir -p corpus/config_fuzzer
for f in ../../config/*.yaml; do cp "$f" "corpus/config_fuzzer/example_$(basename "$f")"; done
cat >corpus/config_fuzzer/routing.yaml <<'T'
routing:
  app_queue_prefix: apps.
  queues:
    topology: {allow: ['kytos/topology\..*']}
filters: {deny: ['.*\.echo'], queues: {verbose: {deny: ['x.*']}}}
links:
  queue_prefix: l.
  event_types:
    kytos/topology.link_down: {state: down, link_id_field: link.id}
regions: {queue_prefix: reg., known: [r1, r2], presence: activate}
T
cat >corpus/config_fuzzer/bridge_drivers.yaml <<'T'
transport:
  driver: memory
  memory: {max_queue_depth: 10, max_total_bytes: 1000}
  rabbitmq: {host: localhost, port: 5672, queue_type: quorum, tls: {enabled: true}}
  zeromq: {bind: "tcp://127.0.0.1:5555", connect: ["tcp://127.0.0.1:5556"]}
health: {transport_timeout: 1s}
T
cat >corpus/config_fuzzer/consumer.json <<'T'
{"listen": "127.0.0.1:0", "bridge": {"address": "localhost:1"}, "links": {"queue_prefix": ""}}
T
cat >corpus/config_fuzzer/consumer_dedup.yaml <<'T'
dedup: {store: file, window: 10, directory: /tmp}
ack_deadline: 5s
T

# --- region_tracker_fuzzer: programs of (opcode, operands) bytes; see
# region_tracker_fuzzer.cc Run(). Settings byte first.
mkdir -p corpus/region_tracker_fuzzer
rt() { printf "$2" >"corpus/region_tracker_fuzzer/$1"; }
# r1 connects s1 RW (change 1, mode RW=1<<3), r2 connects s1 RO, r1 leaves.
rt connect_leave '\000\000\000\000\011\000\001\000\021\000\000\000\002\007'
# Connect, then silence past alive_timeout (ticks of 10 s): region down.
rt region_down '\000\000\000\000\011\014\001\014\001\014\001\007'
# A command to s1 and an unknown switch, a reload turning tracking off and on.
rt command_reload '\000\000\000\000\011\003\021\006\001\003\001\006\100\003\041'
# activate presence, dumps with connections, heartbeats.
rt activate_dump '\002\000\001\001\013\000\001\002\015\002\002\005\001\010\002\004\377'
