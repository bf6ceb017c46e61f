#!/usr/bin/env bash
# switchboard's two commands on a fresh Debian 12 machine:
#   ./switchboard.sh run    build, start the three services on the embedded
#                           transport and show an event flowing through them
#   ./switchboard.sh test   build and run every test, then the container
#                           image test (podman); then, with clang, the
#                           thread-safety analysis, every test again under
#                           ASan+UBSan, and the fuzzers (SB_SANITIZERS=0
#                           skips these)
# Both install what they need first (Debian packages; root or sudo).
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(
  bazel-bootstrap g++ pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  grpc-proto libabsl-dev libspdlog-dev libfmt-dev libyaml-cpp-dev libre2-dev
  libgtest-dev libgmock-dev libbenchmark-dev libgoogle-perftools-dev
  librabbitmq-dev rabbitmq-server libzmq3-dev cppzmq-dev zlib1g-dev
  python3 python3-pika python3-protobuf openssl
  # The clang steps of `test`: -Wthread-safety, ASan+UBSan, libFuzzer, and
  # llvm-symbolizer for readable sanitizer reports.
  clang llvm libclang-rt-14-dev
  # The container image test (tests/deploy/image_test.sh) and the Helm
  # chart's check (tools/chartcheck, Go with Debian's packaged libraries).
  podman runc mmdebstrap
  golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v2-dev
  golang-github-masterminds-semver-dev golang-github-xeipuuv-gojsonschema-dev
  # Metrics: prometheus-cpp for the services; prometheus and promtool for
  # the metrics and alert-rule tests.
  prometheus-cpp-dev prometheus
)

say() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

setup() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
      missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  say "installing Debian packages: ${missing[*]}"
  local sudo=()
  ((EUID == 0)) || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

build() {
  say "building"
  bazel build //services/... //tools/switchboardctl
}

# Sums the test cases of every test target's JUnit XML under a testlogs
# directory (one XML per target: not the per-run copies that
# --runs_per_test leaves beside it) into "PASSED FAILED SKIPPED".
count_tests() {
  local total=0 failed=0 skipped=0 attr
  attr() { grep -o "<testsuites[^>]* $1=\"[0-9]*\"" "$2" | grep -o '[0-9]*"$' | tr -d '"' || true; }
  while IFS= read -r xml; do
    total=$((total + $(attr tests "$xml" | head -1 || echo 0) + 0))
    failed=$((failed + $(attr failures "$xml" | head -1) + $(attr errors "$xml" | head -1) + 0))
    skipped=$((skipped + $(grep -c 'result="skipped"' "$xml" || true)))
  done < <(find -L "$1/" -name test.xml -not -path '*/run_*_of_*/*' \
    -not -path '*/shard_*_of_*/*' 2>/dev/null)
  echo "$((total - failed - skipped)) ${failed} ${skipped}"
}

# The clang steps (README, "Sanitizers, thread-safety and fuzzing") build in
# an output base of their own, never the default (gcc) one.
CLANG_OUTPUT_BASE=${SB_CLANG_OUTPUT_BASE:-/root/.cache/bazel-asan}
FUZZ_SECONDS=${SB_FUZZ_SECONDS:-25}

# Every step runs even when one before it failed; the closing "N passed,
# N failed, N skipped" line sums them all (a step that failed without a
# failing test case, e.g. a build error, counts as one failure), and the
# exit status is non-zero if any step failed.
cmd_test() {
  setup
  local rc=0 passed=0 failed=0 skipped=0 p f s
  add() {  # step-rc passed failed skipped label
    if (($1 != 0 && $3 == 0)); then
      echo "$5: the step failed (exit $1) with no failing test case: counted as 1 failure" >&2
      set -- "$1" "$2" 1 "$4" "$5"
    fi
    echo "$5: $2 passed, $3 failed, $4 skipped" >&2
    passed=$((passed + $2)) failed=$((failed + $3)) skipped=$((skipped + $4))
    (($1 == 0)) || rc=1
  }

  say "running every test (bazel test //...)"
  local step=0
  bazel test //... "$@" || step=$?
  read -r p f s < <(count_tests bazel-testlogs)
  add "$step" "$p" "$f" "$s" "gcc tests"

  say "container image: built from bazel-bin and run (tests/deploy/image_test.sh)"
  step=0
  tests/deploy/image_test.sh || step=$?
  case $step in
    0) add 0 1 0 0 "image test" ;;
    77) add 0 0 0 1 "image test (skipped: see above)" ;;
    *) add "$step" 0 1 0 "image test" ;;
  esac

  if [[ "${SB_SANITIZERS:-1}" == 0 ]]; then
    say "SB_SANITIZERS=0: thread-safety analysis, ASan/UBSan and fuzzing NOT run"
  else
    local clang=(bazel --output_base="$CLANG_OUTPUT_BASE")
    say "thread-safety analysis (-Werror=thread-safety) and every test under ASan+UBSan (clang, --config=asan)"
    step=0
    "${clang[@]}" test --config=asan //services/... //tools/... //tests/... "$@" || step=$?
    local logs
    logs=$("${clang[@]}" info --config=asan bazel-testlogs 2>/dev/null) || logs=/nonexistent
    read -r p f s < <(count_tests "$logs")
    add "$step" "$p" "$f" "$s" "asan tests"

    say "fuzzing: every target of tests/fuzz for ${FUZZ_SECONDS}s (tools/fuzz.sh)"
    local fuzzers=(tests/fuzz/corpus/*/) bad fuzz_log
    fuzz_log=$(mktemp /tmp/switchboard-fuzz.XXXXXX)
    step=0
    SB_FUZZ_OUTPUT_BASE=$CLANG_OUTPUT_BASE tools/fuzz.sh --seconds="$FUZZ_SECONDS" \
      2>&1 | tee "$fuzz_log" >&2 || step=$?
    bad=$(grep -c '^!! .* failed (exit' "$fuzz_log" || true)
    rm -f "$fuzz_log"
    # Each fuzzer counts as one test case.
    add "$step" "$((${#fuzzers[@]} - bad))" "$bad" 0 "fuzzers"
  fi
  echo "${passed} passed, ${failed} failed, ${skipped} skipped"
  return $rc
}

cmd_run() {
  setup
  build
  local bin=bazel-bin logs
  logs=$(mktemp -d /tmp/switchboard.XXXXXX)
  # Global, not local: the EXIT trap that stops them runs after this
  # function has returned (with a local list it killed nothing and waited
  # for the services forever).
  pids=()
  stop() {
    say "stopping"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  }
  trap stop EXIT
  trap 'exit 130' INT TERM

  start() {  # name binary config
    "$bin/$2" --config "config/$3.yaml" --port_file "$logs/$1.port" 2>"$logs/$1.log" &
    pids+=($!)
    for _ in $(seq 1 100); do
      [[ -s "$logs/$1.port" ]] && { say "$1 listening on port $(cat "$logs/$1.port") (log: $logs/$1.log)"; return; }
      kill -0 "${pids[-1]}" 2>/dev/null || { cat "$logs/$1.log" >&2; exit 1; }
      sleep 0.1
    done
    echo "$1 did not start; log: $logs/$1.log" >&2
    exit 1
  }
  start bridge services/mq-bridge/mq-bridge bridge
  start broadcaster services/broadcaster/broadcaster broadcaster
  start consumer services/consumer/consumer consumer

  local ctl=$bin/tools/switchboardctl/switchboardctl
  # The verbose queue appears once the broadcaster has reached the bridge.
  for _ in $(seq 1 100); do
    "$ctl" queues --consumer=localhost:50052 --queue=verbose >/dev/null 2>&1 && break
    sleep 0.1
  done
  say "an app subscribes to the verbose queue; a controller publishes a link-down event"
  "$ctl" tail --consumer=localhost:50052 --queue=verbose --count=1 &
  local tail_pid=$!
  "$ctl" publish --broadcaster=localhost:50051 --source=kytos/topology \
    --type=kytos/topology.link_down --link=s1:eth1-s2:eth1 --link_state=down
  wait "$tail_pid"
  say "queues now:"
  "$ctl" queues --consumer=localhost:50052

  if [[ "${1:-}" == "--once" ]]; then
    return 0
  fi
  cat >&2 <<EOT

switchboard is running: broadcaster localhost:50051, consumer localhost:50052,
bridge localhost:50053 (logs in $logs). Try, in another terminal:
  $ctl tail --consumer=localhost:50052 --queue=verbose
  $ctl publish --broadcaster=localhost:50051 --source=kytos/topology --type=kytos/topology.link_up --link=s1:eth1-s2:eth1 --link_state=up
Ctrl-C stops everything.
EOT
  wait "${pids[@]}"
}

case "${1:-}" in
  run) shift; cmd_run "$@" ;;
  test) shift; cmd_test "$@" ;;
  setup) setup ;;
  *)
    echo "usage: $0 run [--once] | test [bazel test flags] | setup" >&2
    exit 2
    ;;
esac
