"""HAProxy's pool, kept equal to what the registry lists: a watch on etcd, commands to HAProxy.

Layer: components (runs as the `pool-sync` process of the haproxy component).

    python -m labs.components.registry.pool_sync concerts 127.0.0.1:ADMIN --slots 9

Each instance under /services/<service>/ takes a free server slot of the backend <service>
(the watch tells within milliseconds; a fresh list every second repairs what a broken watch missed):
`set server <service>/slotN addr <host> port <port>`, then `state ready` (its health checks start);
an instance that leaves the registry puts its slot in `maint`. Our own code because the usual tools
for this (HAProxy's Data Plane API, consul-template) do not install from the registries we use.
The etcd address comes from LABS_DEPENDENCIES, as for every lab component.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
import time
from urllib.parse import urlsplit

from .agent import PREFIX, etcd_client

RESYNC_S = 1.0


def admin(address: str, command: str, timeout: float = 2.0) -> str:
    """One command on HAProxy's runtime API (its stats socket); the answer as text."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as conn:
        conn.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


class Pool:
    def __init__(self, service: str, admin_address: str, slots: int):
        self.service, self.admin_address = service, admin_address
        self.free = [f"slot{n}" for n in range(1, slots + 1)]
        self.taken: dict[str, str] = {}  # registry key -> slot
        self.removed: dict[str, float] = {}  # registry key -> when the watch said it left
        self.lock = threading.Lock()  # the watch thread and the resync loop both change it

    def add(self, key: str, value: bytes) -> None:
        with self.lock:
            if key in self.taken:
                return
            if not self.free:
                print(f"no free slot for {key}", flush=True)
                return
            url = urlsplit(json.loads(value)["http"])
            slot = self.free.pop(0)
            self.taken[key] = slot
            self._say(f"set server {self.service}/{slot} addr {url.hostname} port {url.port}")
            self._say(f"set server {self.service}/{slot} state ready")
        print(f"{key} -> {slot} ({url.netloc})", flush=True)

    def remove(self, key: str) -> None:
        with self.lock:
            slot = self.taken.pop(key, None)
            if slot is None:
                return
            self._say(f"set server {self.service}/{slot} state maint")
            self.free.append(slot)
            self.removed[key] = time.monotonic()
        print(f"{key} left: {slot} in maintenance", flush=True)

    def resync(self, listed: dict[str, bytes]) -> None:
        """Make the slots match a fresh list of the registry (after etcd was away, events were lost)."""
        for key in set(self.taken) - set(listed):
            self.remove(key)
        recent = time.monotonic() - 2 * RESYNC_S  # a list read just before a delete must not undo it
        for key, value in listed.items():
            if self.removed.get(key, 0) < recent:
                self.add(key, value)

    def _say(self, command: str) -> None:
        answer = admin(self.admin_address, command).strip()
        if answer and "changed from" not in answer and "no need to change" not in answer:
            print(f"{command}: {answer}", flush=True)


def wait_for_haproxy(address: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin(address, "show info")
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("service")
    parser.add_argument("admin", help="HAProxy's runtime API, host:port")
    parser.add_argument("--slots", type=int, default=9)
    options = parser.parse_args(argv)
    etcd_url = json.loads(os.environ.get("LABS_DEPENDENCIES") or "{}").get("etcd", {}).get("url")
    if not etcd_url:
        sys.exit("pool_sync needs etcd's address in LABS_DEPENDENCIES; start it with labs.start('haproxy')")
    wait_for_haproxy(options.admin)
    client, prefix = etcd_client(etcd_url, timeout=2), f"{PREFIX}{options.service}/"
    pool = Pool(options.service, options.admin, options.slots)
    watcher = etcd_client(etcd_url, timeout=None)
    threading.Thread(target=follow, args=(watcher, prefix, pool), daemon=True).start()
    print(f"following {prefix}", flush=True)
    # The watch reacts within milliseconds; a fresh list every RESYNC_S repairs what a watch cut by
    # an etcd restart missed (etcd3gw's watch does not tell its caller that its stream broke).
    while True:
        try:
            pool.resync({meta["key"].decode(): value for value, meta in client.get_prefix(prefix)})
        except Exception as exc:  # etcd away: keep the pool as it is; HAProxy's checks still run
            print(f"cannot list {prefix}: {type(exc).__name__}", flush=True)
        time.sleep(RESYNC_S)


def follow(client, prefix: str, pool: Pool) -> None:
    """Apply the watch's events as they come (a put: into a slot; a delete: the slot to maint)."""
    events, _cancel = client.watch_prefix(prefix)
    for event in events:
        key = event["kv"]["key"].decode()
        if event.get("type") == "DELETE":
            pool.remove(key)
        else:
            pool.add(key, event["kv"]["value"])


if __name__ == "__main__":
    main()
