#!/usr/bin/env bash
# The images the docker-backend tests run, built where no image registry is reachable (our CI):
#
#   scripts/docker-images.sh      against the engine in $DOCKER_HOST (scripts/docker-engine.sh start)
#
# 1. local/debian:bookworm: `debootstrap --variant=minbase` from the Debian mirror apt uses here, with
#    this machine's apt sources, then `docker import` (about a minute; skipped when it exists).
# 2. docker compose build of compose.yaml + compose.offline.yaml: RabbitMQ and Redis from Debian's
#    packages, and the lab's Python image (services, chaos proxy, Kafka-protocol stand-in).
#
# pip inside the build must trust the CA certificates this machine added to Debian's (a
# TLS-inspecting proxy): they are copied into docker/extra-ca/ for the build and removed after it.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${LABS_BASE_IMAGE:-local/debian:bookworm}
say() { printf '\033[1mdocker-images:\033[0m %s\n' "$*" >&2; }

mirror() {
  # The first Debian URI apt uses (deb822 .sources or a one-line sources.list).
  local uri
  uri=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -1 || true)
  [ -n "$uri" ] || uri=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}' | grep -v security | head -1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

base_image() {
  if docker image inspect "$BASE" >/dev/null 2>&1; then say "$BASE exists"; return; fi
  local started=$SECONDS tmp
  tmp=$(mktemp -d /var/tmp/labs-rootfs.XXXXXX)
  trap 'rm -rf "$tmp"' RETURN
  say "debootstrap bookworm from $(mirror) (about a minute)"
  debootstrap --variant=minbase bookworm "$tmp/rootfs" "$(mirror)" >"$tmp/debootstrap.log" 2>&1 \
    || { tail -20 "$tmp/debootstrap.log"; exit 1; }
  # The same package sources (and apt settings) as this machine, so builds reach what apt reaches here.
  rm -f "$tmp/rootfs/etc/apt/sources.list"
  cp -a /etc/apt/sources.list.d/. "$tmp/rootfs/etc/apt/sources.list.d/" 2>/dev/null || true
  [ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$tmp/rootfs/etc/apt/sources.list"
  find "$tmp/rootfs/etc/apt/sources.list.d" -name '*.disabled*' -delete
  cp -a /etc/apt/apt.conf.d/. "$tmp/rootfs/etc/apt/apt.conf.d/" 2>/dev/null || true
  rm -rf "$tmp/rootfs/var/cache/apt/archives/"*.deb "$tmp/rootfs/var/lib/apt/lists/"*
  tar -C "$tmp/rootfs" -c . | docker import - "$BASE" >/dev/null
  say "$BASE imported in $((SECONDS - started)) s ($(docker image inspect "$BASE" --format '{{.Size}}' | awk '{printf "%d MB", $1/1e6}'))"
}

build() {
  local started=$SECONDS copied=()
  trap 'rm -f "${copied[@]}"' RETURN
  for crt in /usr/local/share/ca-certificates/*.crt /usr/local/share/ca-certificates/*/*.crt; do
    [ -f "$crt" ] || continue
    cp "$crt" docker/extra-ca/ && copied+=("docker/extra-ca/$(basename "$crt")")
  done
  say "building the stand-ins and the lab's image (${#copied[@]} extra CA certificate(s) for the build)"
  LABS_BASE_IMAGE="$BASE" docker compose -f docker/compose.yaml -f docker/compose.offline.yaml \
    build --progress plain rabbitmq kafka >"${LABS_DOCKER_BUILD_LOG:-/tmp/labs-docker-build.log}" 2>&1 \
    || { tail -40 "${LABS_DOCKER_BUILD_LOG:-/tmp/labs-docker-build.log}"; exit 1; }
  say "built in $((SECONDS - started)) s: $(docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep msa-labs | tr '\n' ' ')"
}

base_image
build
