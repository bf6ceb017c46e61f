#!/usr/bin/env bash
# The Helm chart (deploy/helm/switchboard), checked without helm or a
# cluster by tools/chartcheck (usage: tools/chartcheck/main.go): for the
# chart's defaults and every ci/*-values.yaml it validates the values
# against values.schema.json,
# renders the templates as `helm template` does, checks the manifests and
# runs each service's rendered config through the real binary
# (--check_config); ci/invalid.yaml and a few values written here must be
# refused with the right message. Every ci/*-values.yaml must pass (tools
# such as chart-testing lint and template each file of that pattern), so
# the refused file is named ci/invalid.yaml. When a `helm` binary is on
# PATH, it also runs `helm lint` and `helm template` on each and compares
# helm's objects with chartcheck's.
#
# Under Bazel: bazel test //tests/deploy:helm_chart_test. By hand, from the
# repository's root, after `bazel build //services/...`:
#   tests/deploy/helm_chart_test.sh
# (the binaries are then taken from bazel-bin/).
set -euo pipefail

say() { echo "helm_chart_test: $*"; }
die() { say "FAILED: $*" >&2; exit 1; }

# Repository-relative paths resolve in the runfiles tree under Bazel, else
# in the repository holding this script.
if [[ -n ${TEST_SRCDIR:-} && -d $TEST_SRCDIR/${TEST_WORKSPACE:-switchboard} ]]; then
  root=$TEST_SRCDIR/${TEST_WORKSPACE:-switchboard}
else
  root=$(cd "$(dirname "$0")/../.." && pwd)
fi
if [[ -n ${TEST_TMPDIR:-} ]]; then
  tmp=$TEST_TMPDIR
else
  tmp=$(mktemp -d /tmp/helm_chart_test.XXXXXX)
  trap 'rm -rf "$tmp"' EXIT
fi
chart=$root/deploy/helm/switchboard
[[ -f $chart/Chart.yaml ]] || die "no chart at $chart"
[[ -f $root/VERSION ]] || die "no VERSION file at $root/VERSION"

# The three binaries in one directory, for chartcheck --bin_dir.
bin=$tmp/bin
mkdir -p "$bin"
for b in broadcaster/broadcaster consumer/consumer mq-bridge/mq-bridge; do
  found=""
  for candidate in "$root/services/$b" "$root/bazel-bin/services/$b"; do
    [[ -x $candidate && ! -d $candidate ]] && { found=$candidate; break; }
  done
  [[ -n $found ]] || die "services/$b is not built (bazel build //services/...)"
  ln -sf "$found" "$bin/${b#*/}"
done
# (absl's --help lists only a main file's flags; --helpfull exits 1.)
help=$("$bin/broadcaster" --helpfull 2>&1 || true)
[[ $help == *--check_config* ]] ||
  die "$bin/broadcaster has no --check_config flag: rebuild the services"

# chartcheck, built with Debian's go and packaged libraries (GOPATH mode:
# nothing is downloaded).
command -v go >/dev/null ||
  die "go is not installed: run ./switchboard.sh setup (golang-go and the Go libraries chartcheck uses are in its package list)"
export GO111MODULE=off GOPATH=/usr/share/gocode GOENV=off GOFLAGS= CGO_ENABLED=0 GOPROXY=off GOTOOLCHAIN=local
export GOCACHE=$tmp/gocache HOME=${HOME:-$tmp}
for lib in github.com/Masterminds/sprig github.com/xeipuuv/gojsonschema gopkg.in/yaml.v2 github.com/Masterminds/semver; do
  [[ -d $GOPATH/src/$lib ]] ||
    die "Go library $lib is missing from $GOPATH: run ./switchboard.sh setup"
done
go build -o "$tmp/chartcheck" "$root"/tools/chartcheck/*.go ||
  die "tools/chartcheck does not build"
say "built chartcheck with $(go version)"

failed=()
passed=0
# run NAME CHARTCHECK-ARGS...: one chartcheck run; its lines are printed.
run() {
  local name=$1
  shift
  echo
  if "$tmp/chartcheck" --chart="$chart" --version_file="$root/VERSION" "$@"; then
    passed=$((passed + 1))
  else
    failed+=("$name")
  fi
}

# Values that must render and pass every check: the defaults and EVERY
# ci/*-values.yaml (none of them may be one that must fail).
[[ -f $chart/ci/invalid.yaml ]] || die "no $chart/ci/invalid.yaml (the values the schema must refuse)"
run defaults --bin_dir="$bin" --out="$tmp/out/defaults" --notes
cases=()
for f in "$chart"/ci/*-values.yaml; do
  name=$(basename "$f" .yaml)
  cases+=("$name")
  run "$name" -f "$f" --bin_dir="$bin" --out="$tmp/out/$name"
done
((${#cases[@]} >= 5)) || die "expected at least 5 ci/*-values.yaml, found: ${cases[*]}"
[[ " ${cases[*]} " == *" metrics-off-values "* ]] || die "ci/metrics-off-values.yaml is missing"
# Resource names stay valid with helm's longest release name (53).
run long-release-name -f "$chart/ci/zeromq-values.yaml" --bin_dir="$bin" \
  --release=a-release-name-of-fifty-three-characters-1234567890ab

# expect_in FILE NAME PATTERN...: each extended regexp must match a line of
# FILE (rendered output), else NAME fails.
expect_in() {
  local file=$1 name=$2
  shift 2
  local p
  for p in "$@"; do
    if ! grep -Eq -- "$p" "$file"; then
      failed+=("$name (no line matching '$p' in ${file#"$tmp"/})")
      return
    fi
  done
  say "$name: rendered as expected"
  passed=$((passed + 1))
}
# expect_not_in FILE NAME PATTERN...: no line of FILE may match.
expect_not_in() {
  local file=$1 name=$2
  shift 2
  local p
  for p in "$@"; do
    if grep -Eq -- "$p" "$file"; then
      failed+=("$name (a line matches '$p' in ${file#"$tmp"/})")
      return
    fi
  done
  say "$name: rendered as expected"
  passed=$((passed + 1))
}

# Metrics, logs and the disruption budget, as rendered (chartcheck checked
# their structure above; these pin the values' effect).
d=$tmp/out/defaults/switchboard/templates
expect_in "$d/broadcaster-configmap.yaml" defaults:metrics-config \
  '^      listen: "?0\.0\.0\.0:9090"?$' '^      max_label_values: 100$' '^      format: json$'
expect_in "$d/consumer-service.yaml" defaults:metrics-service-port '^    - name: metrics$' '^      appProtocol: http$'
expect_in "$d/bridge-deployment.yaml" defaults:scrape-annotations \
  '^        prometheus\.io/scrape: "true"$' '^        prometheus\.io/port: "9090"$' '^        prometheus\.io/path: /metrics$'
expect_in "$d/pdb.yaml" defaults:pdb-max-unavailable '^  maxUnavailable: 1$'
expect_not_in "$d/pdb.yaml" defaults:pdb-no-min-available 'minAvailable'
[[ ! -e $d/servicemonitor.yaml ]] && passed=$((passed + 1)) ||
  failed+=("defaults: a ServiceMonitor is rendered (metrics.serviceMonitor.enabled is false)")
d=$tmp/out/metrics-off-values/switchboard/templates
expect_not_in "$d/broadcaster-configmap.yaml" metrics-off:config '^    metrics:'
expect_in "$d/broadcaster-configmap.yaml" metrics-off:log-text '^      format: text$'
expect_not_in "$d/broadcaster-deployment.yaml" metrics-off:no-port-or-annotation 'name: metrics' 'prometheus\.io/'
expect_not_in "$d/broadcaster-service.yaml" metrics-off:service 'name: metrics'
d=$tmp/out/rabbitmq-values/switchboard/templates
expect_in "$d/servicemonitor.yaml" rabbitmq:servicemonitor \
  '^kind: ServiceMonitor$' '^    release: prometheus$' '^    - port: metrics$' '^      interval: 15s$'
expect_in "$d/networkpolicy.yaml" rabbitmq:networkpolicy-metricsFrom \
  '^        - port: metrics$' 'kubernetes\.io/metadata\.name: monitoring'

# NOTES.txt tells how to reach /metrics.
"$tmp/chartcheck" --chart="$chart" --notes >"$tmp/notes.out" 2>&1 || true
expect_in "$tmp/notes.out" notes:metrics \
  'port-forward svc/switchboard-broadcaster 9090' 'curl -s localhost:9090/metrics'

v=$tmp/values
mkdir -p "$v"
# More values that must pass: minAvailable instead of the default
# maxUnavailable; a ServiceMonitor with the zeromq bridges' headless Service
# (selected too, without a metrics port) and Prometheus' default interval;
# serviceMonitor.enabled with metrics off (nothing to scrape: none rendered).
printf 'podDisruptionBudget:\n  minAvailable: 1\n  maxUnavailable: null\n' >"$v/pdb-min-available.yaml"
run pdb-min-available -f "$v/pdb-min-available.yaml" --out="$tmp/out/pdb-min-available"
expect_in "$tmp/out/pdb-min-available/switchboard/templates/pdb.yaml" pdb-min-available:rendered '^  minAvailable: 1$'
expect_not_in "$tmp/out/pdb-min-available/switchboard/templates/pdb.yaml" pdb-min-available:only-one 'maxUnavailable'
printf 'metrics:\n  serviceMonitor:\n    enabled: true\n    interval: ""\n    scrapeTimeout: ""\n' >"$v/servicemonitor.yaml"
run servicemonitor-zeromq -f "$chart/ci/zeromq-values.yaml" -f "$v/servicemonitor.yaml" \
  --bin_dir="$bin" --out="$tmp/out/servicemonitor-zeromq"
expect_not_in "$tmp/out/servicemonitor-zeromq/switchboard/templates/servicemonitor.yaml" \
  servicemonitor-zeromq:no-interval 'interval:' 'scrapeTimeout:'
printf 'metrics:\n  enabled: false\n  serviceMonitor:\n    enabled: true\n' >"$v/servicemonitor-metrics-off.yaml"
run servicemonitor-metrics-off -f "$v/servicemonitor-metrics-off.yaml" --out="$tmp/out/servicemonitor-metrics-off"
[[ ! -e $tmp/out/servicemonitor-metrics-off/switchboard/templates/servicemonitor.yaml ]] &&
  passed=$((passed + 1)) || failed+=("servicemonitor-metrics-off: a ServiceMonitor is rendered with metrics off")

# Values that must be refused, with their message.
schema_msg="values don't meet the specifications of the schema(s)"
run invalid -f "$chart/ci/invalid.yaml" --expect_fail="$schema_msg"
run invalid:unknown-key -f "$chart/ci/invalid.yaml" \
  --expect_fail="broadcaster: Additional property replicas is not allowed"
run invalid:wrong-type -f "$chart/ci/invalid.yaml" \
  --expect_fail="bridge.replicaCount: Invalid type. Expected: integer, given: string"
printf 'log:\n  format: xml\n' >"$v/log-format.yaml"
run log-format -f "$v/log-format.yaml" --expect_fail='log.format: log.format must be one of the following: "text", "json"'
printf 'metrics:\n  maxLabelValues: 0\n' >"$v/metrics-max-label-values.yaml"
run metrics-max-label-values -f "$v/metrics-max-label-values.yaml" \
  --expect_fail="metrics.maxLabelValues: Must be greater than or equal to 1"
printf 'metrics:\n  serviceMonitor:\n    enabled: true\n    interval: 30sec\n' >"$v/servicemonitor-interval.yaml"
run servicemonitor-interval -f "$v/servicemonitor-interval.yaml" \
  --expect_fail="metrics.serviceMonitor.interval: Does not match pattern"
printf 'networkPolicy:\n  enabled: true\n  metricsFrom:\n    - podSelectr: {}\n' >"$v/metrics-from.yaml"
run metrics-from -f "$v/metrics-from.yaml" \
  --expect_fail="networkPolicy.metricsFrom.0: Additional property podSelectr is not allowed"
printf 'podDisruptionBudget:\n  minAvailable: 1\n' >"$v/pdb-both.yaml"
run pdb-both -f "$v/pdb-both.yaml" \
  --expect_fail="podDisruptionBudget: minAvailable (1) and maxUnavailable (1) are both set; set only one"
printf 'podDisruptionBudget:\n  maxUnavailable: null\n' >"$v/pdb-neither.yaml"
run pdb-neither -f "$v/pdb-neither.yaml" --expect_fail="podDisruptionBudget: set minAvailable or maxUnavailable"
printf 'consumer:\n  config:\n    metrics:\n      listen: "0.0.0.0:9999"\n' >"$v/owned-metrics.yaml"
run owned-metrics -f "$v/owned-metrics.yaml" \
  --expect_fail="consumer.config.metrics is set by the chart: use metrics.enabled, metrics.port and metrics.maxLabelValues"
printf 'bridge:\n  config:\n    log:\n      level: debug\n' >"$v/owned-log.yaml"
run owned-log -f "$v/owned-log.yaml" --expect_fail="bridge.config.log is set by the chart: use log.format and log.level"
printf 'metrics:\n  port: 50052\n' >"$v/metrics-port-grpc.yaml"
run metrics-port-grpc -f "$v/metrics-port-grpc.yaml" \
  --expect_fail="metrics.port 50052 is the consumer's gRPC container port"
printf 'broadcaster:\n  service:\n    type: ClusterIP\n    port: 9090\n' >"$v/metrics-port-service.yaml"
run metrics-port-service -f "$v/metrics-port-service.yaml" \
  --expect_fail="metrics.port and broadcaster.service.port are both 9090"
printf 'transport:\n  zeromq:\n    port: 9090\n' >"$v/metrics-port-zeromq.yaml"
run metrics-port-zeromq -f "$chart/ci/zeromq-values.yaml" -f "$v/metrics-port-zeromq.yaml" \
  --expect_fail="metrics.port and transport.zeromq.port are both 9090"
printf 'bridge:\n  replicaCount: 2\n' >"$v/memory-two-bridges.yaml"
run memory-two-bridges -f "$v/memory-two-bridges.yaml" \
  --expect_fail="the memory transport lives in one bridge process; use rabbitmq or zeromq for more than one bridge replica"
printf 'broadcaster:\n  replicaCount: 2\n' >"$v/regions-two-broadcasters.yaml"
run regions-two-broadcasters -f "$v/regions-two-broadcasters.yaml" \
  --expect_fail="region tracking and per-source sequences live in one broadcaster process"
printf 'broadcaster:\n  autoscaling:\n    enabled: true\n    maxReplicas: 3\n' >"$v/regions-autoscaled.yaml"
run regions-autoscaled -f "$v/regions-autoscaled.yaml" \
  --expect_fail="region tracking and per-source sequences live in one broadcaster process"
printf 'transport:\n  driver: rabbitmq\n  rabbitmq:\n    existingSecret: s\n' >"$v/rabbitmq-no-nodes.yaml"
run rabbitmq-no-nodes -f "$v/rabbitmq-no-nodes.yaml" --expect_fail="transport.rabbitmq.nodes is empty"
printf 'tls:\n  enabled: true\n' >"$v/tls-no-secret.yaml"
run tls-no-secret -f "$v/tls-no-secret.yaml" --expect_fail="tls.existingSecret is required"
printf 'broadcaster:\n  config:\n    listen:\n      port: 6000\n' >"$v/owned-listen-port.yaml"
run owned-listen-port -f "$v/owned-listen-port.yaml" \
  --expect_fail="broadcaster.config.listen.port is set by the chart"
# A service setting the binary itself refuses (the chart does not know it):
# chartcheck must fail through --check_config.
printf 'consumer:\n  config:\n    max_credit: 70000\n' >"$v/bad-service-setting.yaml"
echo
if "$tmp/chartcheck" --chart="$chart" -f "$v/bad-service-setting.yaml" --bin_dir="$bin" >"$tmp/bad.out" 2>&1; then
  cat "$tmp/bad.out"
  failed+=("bad-service-setting (consumer max_credit 70000 was accepted)")
elif grep -q 'FAIL  .*consumer --check_config' "$tmp/bad.out" && grep -q max_credit "$tmp/bad.out"; then
  grep -A1 'FAIL  .*consumer --check_config' "$tmp/bad.out" | sed 's/^/  (expected) /'
  say "bad-service-setting: refused by the consumer's --check_config, as expected"
  passed=$((passed + 1))
else
  cat "$tmp/bad.out"
  failed+=("bad-service-setting (failed, but not through the consumer's --check_config naming max_credit)")
fi

# A ServiceMonitor Prometheus would refuse (scrapeTimeout over interval):
# the chart renders it, chartcheck's ServiceMonitor check must fail.
printf 'metrics:\n  serviceMonitor:\n    enabled: true\n    interval: 10s\n    scrapeTimeout: 30s\n' >"$v/servicemonitor-timeout.yaml"
echo
if "$tmp/chartcheck" --chart="$chart" -f "$v/servicemonitor-timeout.yaml" >"$tmp/sm-timeout.out" 2>&1; then
  cat "$tmp/sm-timeout.out"
  failed+=("servicemonitor-timeout (scrapeTimeout 30s over interval 10s was accepted)")
elif grep -q 'FAIL  ServiceMonitor/.*scrapeTimeout 30s is over interval 10s' "$tmp/sm-timeout.out"; then
  grep 'FAIL  ServiceMonitor/' "$tmp/sm-timeout.out" | sed 's/^/  (expected) /'
  say "servicemonitor-timeout: refused by chartcheck's ServiceMonitor check, as expected"
  passed=$((passed + 1))
else
  cat "$tmp/sm-timeout.out"
  failed+=("servicemonitor-timeout (failed, but not through the ServiceMonitor check)")
fi

# helm itself, when present: lint, template, and the same objects.
echo
if helm=$(command -v helm); then
  say "helm found at $helm ($("$helm" version --short 2>/dev/null || echo 'version unknown'))"
  export HELM_CACHE_HOME=$tmp/helm/cache HELM_CONFIG_HOME=$tmp/helm/config HELM_DATA_HOME=$tmp/helm/data
  for name in defaults "${cases[@]}"; do
    args=()
    [[ $name == defaults ]] || args=(-f "$chart/ci/$name.yaml")
    if ! "$helm" lint "$chart" "${args[@]}"; then
      failed+=("helm lint $name")
      continue
    fi
    out=$tmp/helm/out/$name
    if ! "$helm" template switchboard "$chart" "${args[@]}" --kube-version=1.29.0 --output-dir="$out" >/dev/null; then
      failed+=("helm template $name")
      continue
    fi
    run "helm-vs-chartcheck:$name" "${args[@]}" --compare_dir="$out"
  done
  if "$helm" lint "$chart" -f "$chart/ci/invalid.yaml" >"$tmp/helm-invalid.out" 2>&1; then
    cat "$tmp/helm-invalid.out"
    failed+=("helm lint accepted ci/invalid.yaml")
  else
    say "helm lint refuses ci/invalid.yaml, as expected"
  fi
  if "$helm" template switchboard "$chart" -f "$v/pdb-both.yaml" >"$tmp/helm-pdb-both.out" 2>&1; then
    failed+=("helm template accepted podDisruptionBudget minAvailable and maxUnavailable both set")
  elif grep -q "are both set; set only one" "$tmp/helm-pdb-both.out"; then
    say "helm template refuses minAvailable with maxUnavailable, as expected"
  else
    cat "$tmp/helm-pdb-both.out"
    failed+=("helm template refused pdb-both, but not with the chart's message")
  fi
else
  say "helm not on PATH: helm lint/template not run (chartcheck alone checked the chart)"
fi

echo
say "$passed passed, ${#failed[@]} failed"
if ((${#failed[@]})); then
  for f in "${failed[@]}"; do say "  failed: $f"; done
  exit 1
fi
