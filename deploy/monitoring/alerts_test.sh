#!/usr/bin/env bash
# The alert rules are valid (promtool check rules) and fire as their unit
# tests say (promtool test rules alerts_test.yml).
set -euo pipefail
dir=${TEST_SRCDIR:+$TEST_SRCDIR/${TEST_WORKSPACE:-switchboard}/}deploy/monitoring
command -v promtool >/dev/null || {
  echo "promtool is not installed: ./switchboard.sh setup installs Debian's prometheus" >&2
  exit 1
}
cd "$dir"
promtool check rules alerts.yml
promtool test rules alerts_test.yml
