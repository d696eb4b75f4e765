#!/usr/bin/env bash
# The shop's images, built on this machine with Debian's Docker engine.
#
#   deploy/docker/images.sh engine          make sure a Docker engine answers (installs and
#                                           starts Debian's docker.io when none does; root)
#   deploy/docker/images.sh base            print the Python base image to build on:
#                                           $PYTHON_IMAGE (python:3.11-slim) when it is here or
#                                           can be pulled, else a stand-in made from Debian's
#                                           packages with debootstrap (local/python:3.11-slim)
#   deploy/docker/images.sh build [TARGET...]   build each target of deploy/docker/Dockerfile
#                                           (all of them by default) as shop/TARGET:$TAG
#   deploy/docker/images.sh sizes           each image's size
#
# The engine started here uses the vfs storage driver and no bridge network (containers then
# run with --network host), which is what works on a machine without systemd; set
# DOCKER_STORAGE_DRIVER to use another driver. Builds use BuildKit (buildx, or the one built
# into Docker clients before 23): on vfs it builds every target in about 3 minutes, where the
# classic builder, which copies the whole filesystem at every step, took over 30.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TAG=${TAG:-dev}
PYTHON_IMAGE=${PYTHON_IMAGE:-python:3.11-slim}
STAND_IN=local/python:3.11-slim
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
TARGETS=(users products orders payments notifications gateway migrate smtp-sink)
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/shop-dockerd.log}

say() { printf '  %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

apt_install() {
  [[ $(id -u) -eq 0 ]] || die "$* missing: install it (apt-get install $*) or run as root"
  command -v apt-get >/dev/null || die "$* missing and this is not a Debian/Ubuntu machine"
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

cmd_engine() {
  if docker info >/dev/null 2>&1; then return 0; fi
  command -v dockerd >/dev/null || apt_install docker.io
  command -v docker >/dev/null || apt_install docker.io
  [[ $(id -u) -eq 0 ]] || die "no Docker engine answers, and starting one needs root"
  say "starting dockerd (storage driver ${DOCKER_STORAGE_DRIVER:-vfs}; log $DOCKERD_LOG)"
  nohup dockerd --storage-driver="${DOCKER_STORAGE_DRIVER:-vfs}" --iptables=false --bridge=none \
    >>"$DOCKERD_LOG" 2>&1 &
  local i
  for ((i = 0; i < 120; i++)); do
    docker info >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  die "dockerd did not answer within 60 s: see $DOCKERD_LOG"
}

cmd_base() {
  cmd_engine
  if docker image inspect "$PYTHON_IMAGE" >/dev/null 2>&1 \
    || timeout 60 docker pull -q "$PYTHON_IMAGE" >/dev/null 2>&1; then
    echo "$PYTHON_IMAGE"
    return 0
  fi
  if ! docker image inspect "$STAND_IN" >/dev/null 2>&1; then
    say "$PYTHON_IMAGE cannot be pulled: making $STAND_IN from Debian's packages"
    command -v debootstrap >/dev/null || apt_install debootstrap
    rootfs=$(mktemp -d /tmp/shop-python-rootfs.XXXXXX)
    trap 'rm -rf "${rootfs:-}"' EXIT
    debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
      bookworm "$rootfs" "$DEBIAN_MIRROR" >/dev/null
    # pip, inside the build, must trust what this machine trusts (a proxy's CA among them).
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    chmod 755 "$rootfs"  # mktemp made it 0700: the image's / would be closed to uid 10001
    tar -C "$rootfs" -c . | docker import \
      -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      -c 'CMD ["python3"]' - "$STAND_IN" >/dev/null
  fi
  echo "$STAND_IN"
}

# A docker client that builds with BuildKit: one with buildx, or one older than 23 (Debian's
# docker.io), which has BuildKit built in. Nothing when neither is found.
buildkit_client() {
  local client major
  for client in docker /usr/bin/docker; do
    command -v "$client" >/dev/null || continue
    if "$client" buildx version >/dev/null 2>&1; then echo "$client"; return 0; fi
    major=$("$client" version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1)
    if [[ $major =~ ^[0-9]+$ ]] && ((major < 23)); then echo "$client"; return 0; fi
  done
}

cmd_build() {
  local base target client buildkit=1 log
  base=$(cmd_base)
  client=$(buildkit_client)
  if [[ -z $client ]]; then
    say "no BuildKit (install docker-buildx): building with the classic builder, much slower"
    client=docker buildkit=0
  fi
  (($#)) || set -- "${TARGETS[@]}"
  log=$(mktemp /tmp/shop-build.XXXXXX)
  for target in "$@"; do
    say "building shop/$target:$TAG on $base"
    if ! DOCKER_BUILDKIT=$buildkit "$client" build --network host --build-arg PYTHON_IMAGE="$base" \
      -f "$ROOT/deploy/docker/Dockerfile" --target "$target" -t "shop/$target:$TAG" "$ROOT" \
      >"$log" 2>&1; then
      tail -n 40 "$log" >&2
      die "building shop/$target failed"
    fi
  done
  rm -f "$log"
}

cmd_sizes() {
  local target
  for target in "${TARGETS[@]}"; do
    printf '%-14s %s\n' "$target" \
      "$(docker image inspect -f '{{.Size}}' "shop/$target:$TAG" | awk '{printf "%.0f MB", $1/1e6}')"
  done
}

case ${1:-} in
  engine) cmd_engine ;;
  base) cmd_base ;;
  build) shift; cmd_build "$@" ;;
  sizes) cmd_sizes ;;
  *) die "usage: $0 engine|base|build [TARGET...]|sizes" ;;
esac
