"""Talking to lesson 07's registry, proxy and DNS server: etcd3gw, HAProxy's runtime API, dnspython.

Layer: clients.

    etcd = registry.connect(lab)                      # an etcd3gw client; a dead etcd -> RegistryDown
    registry.instances(etcd, "concerts")              # [{"key": ..., "http": ..., "lease": ..., "ttl": 3}, ...]
    pool = registry.WatchedPool(etcd, "concerts")     # the addresses, kept current by a watch
    pool.next()                                       # round robin over them
    registry.haproxy_pool(lab)                        # HAProxy's servers and what its health checks say
    resolver = registry.resolver(lab)                 # dnspython, asking the lab's DNS server, with a cache

RegistryDown says what to do ("labs.start(...) brings it back") instead of a bare connection error.
"""
from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

import etcd3gw
from etcd3gw import exceptions as etcd_errors

from ..components.registry.agent import PREFIX, check_ttl, key_for  # noqa: F401  (key_for: for lessons)
from ..components.registry.pool_sync import admin
from ..runtime import LabError

__all__ = ["PREFIX", "RegistryDown", "WatchedPool", "connect", "haproxy_pool", "instances", "key_for", "resolver"]


class RegistryDown(LabError):
    """etcd did not answer; the message says how to bring it back."""


class Registry(etcd3gw.Etcd3Client):
    """etcd3gw's client, with connection errors that name the fix."""

    def _down(self, exc: Exception) -> RegistryDown:
        return RegistryDown(f"the registry (etcd at {self.base_url}) does not answer ({type(exc).__name__}); "
                            f"it was stopped or killed: labs.start(\"etcd\", ...) brings it back "
                            f"(run the lesson's labs.start cell again)")

    def post(self, url: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().post(url, *args, **kwargs)
        except (etcd_errors.ConnectionFailedError, etcd_errors.ConnectionTimeoutError) as exc:
            raise self._down(exc) from None

    def watch(self, key, **kwargs):
        import requests
        try:
            return super().watch(key, **kwargs)
        except requests.exceptions.RequestException as exc:
            raise self._down(exc) from None

    def lease(self, ttl: int = 30):
        """A lease of `ttl` whole seconds (2 to 60: etcd stretches shorter ones to its minimum)."""
        return super().lease(ttl=check_ttl(ttl))

    def revision(self) -> int:
        """The store's current revision (what a watch starting "after this read" starts from)."""
        return int(self.post(self.get_url("/kv/range"), json={"key": "AA==", "limit": 1})["header"]["revision"])


def connect(lab: Any, timeout: float = 2.0) -> Registry:
    """An etcd3gw client for the lab's etcd (its HTTP gateway at /v3/)."""
    from urllib.parse import urlsplit
    url = urlsplit(lab.endpoint("etcd")["url"])
    return Registry(host=url.hostname, port=url.port, timeout=timeout, api_path="/v3/")


def instances(etcd: Registry, service: str) -> list[dict[str, Any]]:
    """What the registry lists under /services/<service>/: each instance's key, addresses, lease and
    the seconds left on that lease."""
    rows = []
    for value, meta in etcd.get_prefix(f"{PREFIX}{service}/"):
        lease_id = int(meta.get("lease", 0))
        left = None
        if lease_id:
            left = int(etcd.post(etcd.get_url("/kv/lease/timetolive"), json={"ID": lease_id}).get("TTL", -1))
        rows.append({"key": meta["key"].decode(), **json.loads(value), "lease": lease_id, "ttl_left": left})
    return rows


class WatchedPool:
    """The http addresses under /services/<service>/, listed once and then kept current by a watch.

    The watch starts at the revision right after the list, so nothing that happens in between is
    missed. `changes` records (time.time(), "PUT"/"DELETE", key) as the watch delivers them."""

    def __init__(self, etcd: Registry, service: str):
        self.prefix = f"{PREFIX}{service}/"
        self.pool: dict[str, str] = {}
        self.changes: list[tuple[float, str, str]] = []
        revision = etcd.revision()
        for value, meta in etcd.get(self.prefix, metadata=True, range_end=_after(self.prefix),
                                    revision=revision):
            self.pool[meta["key"].decode()] = json.loads(value)["http"]
        events, self._cancel = etcd.watch_prefix(self.prefix, start_revision=revision + 1)
        self._turn = itertools.count()
        threading.Thread(target=self._follow, args=(events,), name=f"watch {self.prefix}", daemon=True).start()

    def _follow(self, events) -> None:
        for event in events:
            key = event["kv"]["key"].decode()
            kind = event.get("type", "PUT")  # the gateway leaves out the default, PUT
            if kind == "DELETE":
                self.pool.pop(key, None)
            else:
                self.pool[key] = json.loads(event["kv"]["value"])["http"]
            self.changes.append((time.time(), kind, key))

    def addresses(self) -> list[str]:
        return sorted(self.pool.values())

    def next(self) -> str:
        """Round robin over the instances registered right now; LookupError when there are none."""
        addresses = self.addresses()
        if not addresses:
            raise LookupError(f"no instance is registered under {self.prefix}")
        return addresses[next(self._turn) % len(addresses)]

    def close(self) -> None:
        self._cancel()

    def __enter__(self) -> "WatchedPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<WatchedPool {self.prefix}: {', '.join(self.addresses()) or 'empty'}>"


def _after(prefix: str) -> str:
    """The end of the key range that holds every key starting with `prefix`."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


# ---- HAProxy ----------------------------------------------------------------------------------------

_OP_STATE = {0: "DOWN", 1: "STARTING", 2: "UP", 3: "STOPPING"}  # srv_op_state in HAProxy's management guide


def haproxy_pool(lab: Any) -> list[dict[str, Any]]:
    """HAProxy's servers that hold an instance: address and state, from `show servers state`."""
    text = admin(lab.endpoint("haproxy")["admin"], "show servers state")
    rows = []
    for line in text.splitlines()[2:]:
        fields = line.split()
        if len(fields) < 19:
            continue
        op_state, admin_state = int(fields[5]), int(fields[6])
        if admin_state & 0x01:  # forced maintenance: a free slot, or an instance that left the registry
            continue
        rows.append({"server": fields[3], "address": f"{fields[4]}:{fields[18]}",
                     "state": _OP_STATE.get(op_state, str(op_state))})
    return rows


def up_in_haproxy(lab: Any) -> list[str]:
    """The addresses HAProxy sends calls to right now."""
    return sorted(row["address"] for row in haproxy_pool(lab) if row["state"] == "UP")


# ---- DNS --------------------------------------------------------------------------------------------

def resolver(lab: Any, cache: bool = True):
    """A dnspython resolver that asks the lab's DNS server only; with `cache`, it keeps each answer
    for the TTL the server gave it, as most resolvers do."""
    import dns.resolver
    host, port = lab.endpoint("dns")["udp"].rsplit(":", 1)
    res = dns.resolver.Resolver(configure=False)
    res.nameservers, res.port = [host], int(port)
    res.lifetime = 2.0
    if cache:
        res.cache = dns.resolver.Cache(cleaning_interval=3600)
    return res
