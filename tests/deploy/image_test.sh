#!/usr/bin/env bash
# The container image, built and run (README "Deploying on Kubernetes"):
# builds deploy/image/Containerfile's runtime-prebuilt target from the
# binaries in bazel-bin/ (so CI compiles nothing twice), starts the bridge,
# broadcaster and consumer from it as containers (host network, read-only
# root, the image's non-root user), publishes an event with the image's own
# switchboardctl and reads it back with it. A runtime library missing from
# the image fails here: the services would not start.
#
# Run from the repository's root after `bazel build //services/... //tools/...`
# (./switchboard.sh test runs it after the gcc tests). Needs root, podman,
# runc and mmdebstrap (./switchboard.sh installs them). Exit 0 passed, 1
# failed, 77 skipped (podman cannot run containers on this machine; the
# reason is printed).
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { echo "image_test: $*" >&2; }
skip() { say "SKIPPED: $*"; exit 77; }
fail() { say "FAILED: $*"; exit 1; }

command -v podman >/dev/null || skip "podman is not installed (./switchboard.sh setup installs it)"
command -v mmdebstrap >/dev/null || skip "mmdebstrap is not installed"
# crun refuses hybrid cgroup layouts; runc works (deploy/image/README.md).
podman=(podman --runtime runc)

# podman's default ulimits and systemd cgroups fail in many CI containers.
# Write the settings that work only where no containers.conf exists.
conf=/etc/containers/containers.conf
if [[ ! -e $conf && $EUID == 0 ]]; then
  mkdir -p /etc/containers
  printf '[containers]\ndefault_ulimits = []\npids_limit = 0\n[engine]\ncgroup_manager = "cgroupfs"\n' >"$conf"
  say "wrote $conf (none existed): no default ulimits, cgroupfs"
fi
"${podman[@]}" info >/dev/null 2>&1 ||
  skip "podman cannot run here: $("${podman[@]}" info 2>&1 | tail -1)"

tag="localhost/switchboard:test-$$"
work=$(mktemp -d /tmp/switchboard-image-test.XXXXXX)
names=()
cleanup() {
  local rc=$?
  if ((rc != 0 && rc != 77)); then
    for n in "${names[@]}"; do
      say "--- log of $n"; "${podman[@]}" logs "$n" 2>&1 | tail -20 >&2 || true
    done
  fi
  ((${#names[@]})) && "${podman[@]}" rm -f -t 2 "${names[@]}" >/dev/null 2>&1
  "${podman[@]}" rmi -f "$tag" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

say "building $tag from bazel-bin (runtime-prebuilt)"
SB_PODMAN="${podman[*]}" deploy/image/build.sh --prebuilt --base-from-mmdebstrap \
  --tag="$tag" >"$work/build.log" 2>&1 || { tail -30 "$work/build.log" >&2; fail "the image did not build"; }

# Configs and port files in a directory the containers' user may write.
chmod 0777 "$work"
run() {  # name command...
  local name="sb-image-test-$1-$$"
  shift
  "${podman[@]}" run -d --name "$name" --network=host --read-only \
    -v "$work:/work:z" "$tag" "$@" >/dev/null
  names+=("$name")
}
port_of() {  # name: sets PORT once its --port_file is written (once listening)
  # (Not in a $(...) subshell: `fail` must end this script, logs and all.)
  for _ in $(seq 1 600); do
    [[ -s $work/$1.port ]] && { PORT=$(cat "$work/$1.port"); return; }
    [[ $("${podman[@]}" inspect -f '{{.State.Running}}' "sb-image-test-$1-$$") == true ]] ||
      fail "$1 exited before listening"
    sleep 0.1
  done
  fail "$1 did not listen within 60 s"
}

run bridge mq-bridge --config=/etc/switchboard/bridge.yaml \
  --listen=127.0.0.1:0 --port_file=/work/bridge.port
port_of bridge
bridge=$PORT
printf 'bridge:\n  address: 127.0.0.1:%s\n' "$bridge" >"$work/to-bridge.yaml"
run broadcaster broadcaster --config=/work/to-bridge.yaml \
  --listen=127.0.0.1:0 --port_file=/work/broadcaster.port
run consumer consumer --config=/work/to-bridge.yaml \
  --listen=127.0.0.1:0 --port_file=/work/consumer.port
port_of broadcaster
broadcaster=$PORT
port_of consumer
consumer=$PORT
say "bridge :$bridge, broadcaster :$broadcaster, consumer :$consumer (containers)"

ctl() { "${podman[@]}" run --rm --network=host --read-only "$tag" switchboardctl "$@"; }
id=$(ctl publish --broadcaster="127.0.0.1:$broadcaster" --source=image-test \
  --type=image.test.hello --subject=s1 --print_ids) || fail "publish failed"
[[ -n $id ]] || fail "publish printed no id"
got=$(timeout 120 "${podman[@]}" run --rm --network=host --read-only "$tag" \
  switchboardctl tail --consumer="127.0.0.1:$consumer" --queue=verbose --count=1) ||
  fail "tail failed"
[[ $got == *"\"$id\""* && $got == *image.test.hello* ]] ||
  fail "the event read back is not the one published ($id): $got"
say "published $id with the image's switchboardctl and read it back from verbose"

# The image's user and root filesystem, as the services ran.
for n in "${names[@]}"; do
  [[ $("${podman[@]}" inspect -f '{{.Config.User}}' "$n") == 65532:65532 ]] ||
    fail "$n does not run as 65532:65532"
  uid=$("${podman[@]}" exec "$n" id -u)
  [[ $uid == 65532 ]] || fail "$n runs as uid $uid"
  if out=$("${podman[@]}" exec "$n" touch /etc/switchboard/probe 2>&1); then
    fail "$n could write to its root filesystem"
  fi
  [[ $out == *"Read-only file system"* ]] || fail "$n: unexpected write error: $out"
done
say "every service ran as uid 65532 on a read-only root"
labels=$("${podman[@]}" inspect -f '{{index .Config.Labels "org.opencontainers.image.version"}}' "$tag")
[[ $labels == "$(cat VERSION)" ]] || fail "org.opencontainers.image.version is '$labels', VERSION says $(cat VERSION)"
say "PASSED"
