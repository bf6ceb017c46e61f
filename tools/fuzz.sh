#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with --config=fuzz (clang,
# -fsanitize=fuzzer,address,undefined) and runs each for a while.
#
#   tools/fuzz.sh [--seconds=N] [--merge] [FUZZER...]
#
# --seconds=N  time per fuzzer (default 600; CI runs 25 through
#              ./switchboard.sh test)
# --merge      afterwards, add the inputs that found new coverage to the
#              repo's corpus (tests/fuzz/corpus/<fuzzer>), minimised
# FUZZER       names, e.g. publish_fuzzer (default: all of them)
#
# Inputs found are kept in $SB_FUZZ_WORK (default /tmp/switchboard-fuzz)
# across runs. A crash stops the run with the input's path and the command
# that reproduces it; make it a regression test by adding the input to
# tests/fuzz/corpus/<fuzzer>/ (named crash-<what>), which <fuzzer>_corpus_test
# replays in every build, and fix the code.
#
# The build uses its own output base ($SB_FUZZ_OUTPUT_BASE, default
# /root/.cache/bazel-asan, shared with --config=asan: the fuzz build reuses
# its objects), never the default one.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=600
merge=0
fuzzers=()
for arg in "$@"; do
  case "$arg" in
    --seconds=*) seconds=${arg#--seconds=} ;;
    --merge) merge=1 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    -*) echo "unknown option $arg" >&2; exit 2 ;;
    *) fuzzers+=("$arg") ;;
  esac
done
if ((${#fuzzers[@]} == 0)); then
  for d in tests/fuzz/corpus/*/; do fuzzers+=("$(basename "$d")"); done
fi

output_base=${SB_FUZZ_OUTPUT_BASE:-/root/.cache/bazel-asan}
work=${SB_FUZZ_WORK:-/tmp/switchboard-fuzz}
bazel_fuzz=(bazel --output_base="$output_base")

targets=()
for f in "${fuzzers[@]}"; do targets+=("//tests/fuzz:$f"); done
echo "== building ${fuzzers[*]} (--config=fuzz)" >&2
"${bazel_fuzz[@]}" build --config=fuzz "${targets[@]}"
bin=$("${bazel_fuzz[@]}" info --config=fuzz bazel-bin 2>/dev/null)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for f in "${fuzzers[@]}"; do
  seeds=tests/fuzz/corpus/$f
  found=$work/$f/corpus
  crashes=$work/$f/crashes
  mkdir -p "$found" "$crashes"
  echo "== $f: ${seconds}s (seeds $seeds, found inputs $found)" >&2
  log=$work/$f/last.log
  rc=0
  # New inputs go to the first directory; the repo's seeds are only read.
  "$bin/tests/fuzz/$f" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$crashes/" \
    "$found" "$seeds" >"$log" 2>&1 || rc=$?
  grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$log" >&2 || true
  if ((rc != 0)); then
    tail -60 "$log" >&2
    echo "!! $f failed (exit $rc); inputs in $crashes:" >&2
    ls -1 "$crashes" >&2 || true
    echo "   reproduce: $bin/tests/fuzz/$f $crashes/<file>" >&2
    failed+=("$f")
    continue
  fi
  if ((merge)); then
    "$bin/tests/fuzz/$f" -merge=1 "$seeds" "$found" >"$work/$f/merge.log" 2>&1
    echo "== $f: merged into $seeds ($(ls "$seeds" | wc -l) files)" >&2
  fi
done
if ((${#failed[@]} > 0)); then
  echo "!! fuzzers that found a problem: ${failed[*]}" >&2
  exit 1
fi
echo "== fuzzers ran clean: ${fuzzers[*]} (${seconds}s each)" >&2
