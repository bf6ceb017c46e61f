#!/usr/bin/env bash
# Soaks of the three services; not part of CI (they take minutes).
#
# Resource soak (default): a never-acking subscriber, many open Subscribe
# streams, and many distinct sources, links and regions; prints RSS, open
# fds and threads of each service before and after, and fails if one died
# or grew past --max_rss_growth_mib.
#   tools/soak.sh                      # 10,000 streams, 100,000 names
#   tools/soak.sh --streams=1000 --names=10000
#
# Steady soak (--steady): a constant publish rate for --duration (10m) with
# one acking subscriber; prints the same usage at the start, every
# --report_every (1m) and at the end, and what was accepted and received.
#   tools/soak.sh --steady                         # 2,000 events/s, 10 min
#   tools/soak.sh --steady --rate=5000 --duration=10m --disk_buffer
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "--steady" ]]; then
  shift
  exec bazel run //tests/soak:steady_soak -- "$@"
fi
exec bazel run //tests/soak:resource_soak -- "$@"
