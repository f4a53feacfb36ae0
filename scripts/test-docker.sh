#!/usr/bin/env bash
# `make test-docker`: the docker backend against a real engine. As root (CI): start a private dockerd,
# build the stand-in images (no registry is reachable), run the real-engine tests and the lessons
# below with LABS_BACKEND=docker, then tear everything down (also when a test fails) and prove the
# host is as it was. Elsewhere it says why it skipped.
#
#   LABS_DOCKER_LESSONS="00 09"  the lessons to run (default below; one that does not exist yet is skipped)
#   LABS_DOCKER_KEEP=1           leave the engine running afterwards (to look around; stop it with
#                                scripts/docker-engine.sh stop)
#   LABS_DOCKER_FRESH=1          start from an empty data root (measures "engine + images from nothing")
#   LABS_DOCKER_COMPARE=1        then run the same lessons on the local backend, for their times side by side
set -euo pipefail
cd "$(dirname "$0")/.."
LESSONS=${LABS_DOCKER_LESSONS:-"00 02 03 09 10 11 12"}
say() { printf '\033[1mtest-docker:\033[0m %s\n' "$*"; }

if [ "${LABS_SKIP_DOCKER:-0}" = 1 ]; then say "skipped: LABS_SKIP_DOCKER=1"; exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  say "skipped: starting a Docker engine of its own needs root (this run is $(id -un)). The docker backend's"
  say "         unit tests (a fake docker client) ran in test-unit; CI, which is root, runs the real ones."
  exit 0
fi
if ! command -v dockerd >/dev/null && ! command -v apt-get >/dev/null; then
  say "skipped: no dockerd here and no apt-get to install Debian's docker.io"; exit 0
fi

cleanup() {
  local code=$?
  if [ "${LABS_DOCKER_KEEP:-0}" = 1 ]; then say "LABS_DOCKER_KEEP=1: the engine keeps running"; exit $code; fi
  scripts/docker-engine.sh stop || code=1
  # The acceptance check: nothing of Docker's is left on the host.
  local left=()
  pgrep -x dockerd >/dev/null && left+=("a dockerd process")
  ip link show docker0 >/dev/null 2>&1 && left+=("the docker0 link")
  iptables-save 2>/dev/null | grep -q '^:DOCKER' && left+=("DOCKER iptables chains")
  if [ ${#left[@]} -gt 0 ]; then say "LEFT BEHIND: ${left[*]}"; code=1; else say "host clean: no dockerd, no docker0, no DOCKER chains"; fi
  exit $code
}
trap cleanup EXIT

t0=$SECONDS
scripts/docker-engine.sh start
eval "$(scripts/docker-engine.sh env)"
t_engine=$((SECONDS - t0))
scripts/docker-images.sh
t_images=$((SECONDS - t0 - t_engine))

export LABS_BACKEND=docker LABS_DOCKER_ENGINE=1
export LABS_COMPOSE_FILE="$PWD/docker/compose.yaml:$PWD/docker/compose.offline.yaml"
PYTEST=(.venv/bin/python -m pytest -p no:cacheprovider -q)

s=$SECONDS
"${PYTEST[@]}" tests/runtime/test_docker_engine.py
t_engine_tests=$((SECONDS - s))

notebooks=()
for n in $LESSONS; do
  nb=$(ls notebooks/"$n"-*.ipynb 2>/dev/null | head -1 || true)
  if [ -z "$nb" ]; then say "lesson $n: not written yet, skipped"; else notebooks+=("$nb"); fi
done
say "lessons with LABS_BACKEND=docker: ${notebooks[*]}"
s=$SECONDS
status=0
# One pytest run for all of them (each notebook still gets a kernel of its own); times per notebook at the end.
PYTHONPATH=scripts "${PYTEST[@]}" -p pytest_lesson_times --nbval-lax "${notebooks[@]}" || status=$?
say "figures: engine ready ${t_engine} s, base image + stand-in builds ${t_images} s, real-engine tests" \
    "${t_engine_tests} s, the lessons $((SECONDS - s)) s"
if [ "${LABS_DOCKER_COMPARE:-0}" = 1 ]; then
  say "the same lessons on the local backend, for comparison (LABS_DOCKER_COMPARE=1)"
  LABS_BACKEND=local PYTHONPATH=scripts "${PYTEST[@]}" -p pytest_lesson_times --nbval-lax "${notebooks[@]}" || true
fi
exit $status
