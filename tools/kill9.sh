#!/usr/bin/env bash
# The long kill -9 run (tests/e2e/KILL9.md): the binary of
# //tests/e2e:kill9_e2e_test for minutes at thousands of events/s, with a
# seeded random schedule of kill -9s, SIGSTOPs and cut links.
#
#   tools/kill9.sh [--seconds=300] [--rate=1500] [--producers=2] [--seed=N]
#                  [--mode=rabbitmq|memory|memory-bridge|all]
#
# --rate is events/s per producer. Output: the test's log, then one line
# per mode, stable for scripts:
#   kill9 <mode> seed=<seed> accepted=<n> received=<n> lost=<n> duplicated=<n>
# Exit status: the test's (nonzero when an accepted event was lost or seen
# twice where that is promised). The services' logs stay in the printed
# directory when it fails.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=300 rate=1500 producers=2 seed="" mode=rabbitmq
for arg in "$@"; do
  case "$arg" in
    --seconds=*) seconds="${arg#*=}" ;;
    --rate=*) rate="${arg#*=}" ;;
    --producers=*) producers="${arg#*=}" ;;
    --seed=*) seed="${arg#*=}" ;;
    --mode=*) mode="${arg#*=}" ;;
    *) echo "unknown argument: $arg (see the top of $0)" >&2; exit 2 ;;
  esac
done
case "$mode" in
  rabbitmq) filter='Kill9Test.RabbitMq*' ;;
  memory) filter='Kill9Test.MemoryConfirmed*' ;;
  memory-bridge) filter='Kill9Test.MemoryBridgeKill*' ;;
  all) filter='Kill9Test.*' ;;
  *) echo "unknown mode: $mode" >&2; exit 2 ;;
esac

bazel build //tests/e2e:kill9_e2e_test
bin="$PWD/bazel-bin/tests/e2e/kill9_e2e_test"
export TEST_SRCDIR="$bin.runfiles"
export TEST_TMPDIR
TEST_TMPDIR="$(mktemp -d /tmp/kill9.XXXXXX)"
export KILL9_SECONDS="$seconds" KILL9_RATE="$rate" KILL9_PRODUCERS="$producers"
if [[ -n "$seed" ]]; then export KILL9_SEED="$seed"; fi
log="$TEST_TMPDIR/kill9.log"
echo "kill9: mode=$mode seconds=$seconds rate=$rate/s x $producers producers; logs in $TEST_TMPDIR"
status=0
"$bin" --gtest_filter="$filter" 2>&1 | tee "$log" || status=$?
echo "---- kill9 summary"
grep -E '^kill9 [^ ]+ seed=[0-9]+ accepted=' "$log" || true
if [[ "$status" -eq 0 ]]; then rm -rf "$TEST_TMPDIR"; fi
exit "$status"
