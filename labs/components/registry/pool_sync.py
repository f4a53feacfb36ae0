"""HAProxy's pool, kept equal to what the registry lists: a watch on etcd, commands to HAProxy.

Layer: components (runs as the `pool-sync` process of the haproxy component).

    python -m labs.components.registry.pool_sync concerts 127.0.0.1:ADMIN --slots 9

Each instance under /services/<service>/ takes a free server slot of the backend <service>:
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
import time
from urllib.parse import urlsplit

from .agent import PREFIX, etcd_client


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

    def add(self, key: str, value: bytes) -> None:
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
        slot = self.taken.pop(key, None)
        if slot is None:
            return
        self._say(f"set server {self.service}/{slot} state maint")
        self.free.append(slot)
        print(f"{key} left: {slot} in maintenance", flush=True)

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
    client, prefix = etcd_client(etcd_url, timeout=None), f"{PREFIX}{options.service}/"
    pool = Pool(options.service, options.admin, options.slots)
    # Watch first, then list: an instance that registers in between is seen twice, never missed.
    events, _cancel = client.watch_prefix(prefix)
    for value, meta in client.get_prefix(prefix):
        pool.add(meta["key"].decode(), value)
    print(f"following {prefix}: {len(pool.taken)} instance(s)", flush=True)
    for event in events:
        key = event["kv"]["key"].decode()
        if event.get("type") == "DELETE":
            pool.remove(key)
        else:
            pool.add(key, event["kv"]["value"])
    sys.exit("the watch on etcd ended (etcd stopped?)")


if __name__ == "__main__":
    main()
