#!/usr/bin/env bash
# Resource soak of the three services (memory transport): a never-acking
# subscriber, many open Subscribe streams, and many distinct sources, links
# and regions; prints RSS, open fds and threads of each service before and
# after, and fails if one died or grew past --max_rss_growth_mib.
#   tools/soak.sh                      # 10,000 streams, 100,000 names
#   tools/soak.sh --streams=1000 --names=10000
set -euo pipefail
cd "$(dirname "$0")/.."
exec bazel run //tests/soak:resource_soak -- "$@"
