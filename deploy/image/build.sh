#!/usr/bin/env bash
# Builds switchboard's image with podman (README "Deploying on Kubernetes").
#
#   deploy/image/build.sh [--prebuilt] [--tag=IMAGE] [--base-from-mmdebstrap]
#
#   --prebuilt   package the binaries Bazel already built (bazel-bin/; run
#                `bazel build //services/... //tools/...` first) instead of
#                compiling them in the image's build stage.
#   --tag        the image's name (default localhost/switchboard:$(cat VERSION)).
#   --base-from-mmdebstrap
#                when no debian:bookworm-slim image is present (no registry
#                reachable), make one with mmdebstrap from Debian's archive
#                and import it as debian:bookworm-slim and debian:bookworm.
#
# Podman settings for machines without a systemd cgroup manager or a
# registry (see deploy/image/README.md): SB_PODMAN="podman --runtime runc".
set -euo pipefail
cd "$(dirname "$0")/../.."

prebuilt=0 base=0 tag="localhost/switchboard:$(cat VERSION)"
for arg in "$@"; do
  case "$arg" in
    --prebuilt) prebuilt=1 ;;
    --tag=*) tag=${arg#--tag=} ;;
    --base-from-mmdebstrap) base=1 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done
read -r -a podman <<<"${SB_PODMAN:-podman}"

pull=()
if ((base)) && ! "${podman[@]}" image exists debian:bookworm-slim; then
  tar=$(mktemp /tmp/switchboard-base.XXXXXX.tar)
  trap 'rm -f "$tar"' EXIT
  echo "build.sh: making debian:bookworm-slim with mmdebstrap (minbase)" >&2
  mmdebstrap --quiet --variant=minbase bookworm "$tar"
  "${podman[@]}" import -q "$tar" localhost/debian:bookworm-slim >/dev/null
  "${podman[@]}" tag localhost/debian:bookworm-slim localhost/debian:bookworm
  rm -f "$tar"
fi
if "${podman[@]}" image exists debian:bookworm-slim; then
  pull=(--pull=never)
fi

args=(build --network=host "${pull[@]}" -f "$PWD/deploy/image/Containerfile"
  --build-arg "VERSION=$(cat VERSION)"
  --build-arg "REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)"
  -t "$tag")
if ((prebuilt)); then
  # A context of its own: the five binaries and the example configs.
  context=$(mktemp -d /tmp/switchboard-image.XXXXXX)
  trap 'rm -rf "$context"' EXIT
  mkdir -p "$context/bin" "$context/config"
  for b in services/broadcaster/broadcaster services/consumer/consumer \
           services/mq-bridge/mq-bridge tools/switchboardctl/switchboardctl \
           tools/speaker/speaker; do
    [[ -x bazel-bin/$b ]] || {
      echo "build.sh: bazel-bin/$b is missing: bazel build //services/... //tools/... first" >&2
      exit 1
    }
    cp "bazel-bin/$b" "$context/bin/"
  done
  cp config/broadcaster.yaml config/consumer.yaml config/bridge.yaml "$context/config/"
  "${podman[@]}" "${args[@]}" --target runtime-prebuilt "$context"
else
  "${podman[@]}" "${args[@]}" .
fi
echo "build.sh: built $tag" >&2
