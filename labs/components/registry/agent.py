"""An instance puts itself in the registry with a lease and keeps the lease alive: `Registration`.

Layer: components. One idea: self-registration with a time to live.

    reg = Registration("http://127.0.0.1:2379", "concerts", {"http": "http://127.0.0.1:8001"}, ttl=3)
    reg.start()     # lease granted, key /services/concerts/127.0.0.1:8001 put under it, refreshed every ttl/3 s
    reg.close()     # deregister: the lease is revoked and the key goes at once

If the process dies without `close()` (SIGKILL, a power cut), nobody refreshes the lease and etcd
deletes the key when the TTL runs out: that is the whole point of a lease. The keep-alive thread
lives in the instance's own process (not a sidecar) so that it dies exactly when the instance does.

A ticketing service started with the option "register_ttl" runs this (serve.py, through `serve`):
it registers once uvicorn is listening, and on SIGTERM deregisters *first*, waits DRAIN_S for the
callers that already picked it, then stops. `registrant.py` registers any address until killed
(the lesson's "instances" for the TTL plot).
"""
from __future__ import annotations

import json
import os
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from ...runtime import args

TTL_RANGE = (2, 60)  # whole seconds; etcd quietly stretches a lease under ~1.5 s (its election timeout)
PREFIX = "/services/"
DRAIN_S = 0.3  # after deregistering, how long a stopping instance still serves calls already on their way


def check_ttl(ttl: Any, name: str = "ttl") -> int:
    """The lease TTL in whole seconds; ValueError naming the allowed range."""
    low, high = TTL_RANGE
    return args.whole(f"{name} (a lease's time to live, in whole seconds)", ttl, low, high)


def key_for(service: str, http_url: str) -> str:
    """/services/<service>/<host:port>: one key per instance, under one prefix per service."""
    return f"{PREFIX}{service}/{urlsplit(http_url).netloc}"


def etcd_client(url: str, timeout: float = 2.0):
    import etcd3gw
    parts = urlsplit(url)
    return etcd3gw.Etcd3Client(host=parts.hostname, port=parts.port, timeout=timeout, api_path="/v3/")


class Registration:
    """This instance's key in the registry, bound to a lease a daemon thread keeps alive."""

    def __init__(self, etcd_url: str, service: str, endpoint: dict[str, str], ttl: int):
        self.service, self.endpoint, self.ttl = service, dict(endpoint), check_ttl(ttl)
        self.key = key_for(service, endpoint["http"])
        self.client = etcd_client(etcd_url)
        self.lease = None
        self.refreshes = 0
        self._stop = threading.Event()

    def start(self) -> "Registration":
        self._grant()
        threading.Thread(target=self._keep_alive, name="registry-keepalive", daemon=True).start()
        return self

    def _keep_alive(self) -> None:
        # A third of the TTL, as etcd's own clients do: two refreshes may be lost before the key goes.
        while not self._stop.wait(self.ttl / 3):
            try:
                if self.lease.refresh() <= 0:  # the lease had expired (etcd unreachable too long)
                    self._grant()
                else:
                    self.refreshes += 1
            except Exception:  # etcd down or slow: try again next round; the TTL decides
                pass

    def _grant(self) -> None:
        self.lease = self.client.lease(ttl=self.ttl)
        self.client.put(self.key, json.dumps({"service": self.service, **self.endpoint}), lease=self.lease)

    def close(self) -> None:
        """Deregister now: revoke the lease, which deletes the key (watchers hear it at once)."""
        self._stop.set()
        if self.lease is not None:
            try:
                self.lease.revoke()
            except Exception:  # etcd gone: the TTL will remove the key anyway
                pass


def from_env(service: str, endpoint: dict[str, str]) -> Registration | None:
    """The registration a lab-started service asked for: LABS_REGISTER_TTL set, etcd in LABS_DEPENDENCIES."""
    ttl = os.environ.get("LABS_REGISTER_TTL")
    if not ttl:
        return None
    etcd = json.loads(os.environ.get("LABS_DEPENDENCIES") or "{}").get("etcd")
    if not etcd:
        raise RuntimeError(f"{service} should register (LABS_REGISTER_TTL={ttl}) but LABS_DEPENDENCIES "
                           f"names no etcd; start it with labs.start({service!r}, options=...)")
    return Registration(etcd["url"], service, endpoint, int(ttl))


def serve(app: Any, host: str, port: int, registration: Registration | None) -> None:
    """uvicorn.run(app), plus: register once listening; on SIGTERM deregister, drain, then stop."""
    import uvicorn

    class Server(uvicorn.Server):
        leaving = False

        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            if registration is not None:
                # Synchronous on purpose: the loop answers nothing (not even /health, the lab's
                # readiness probe) until the instance is in the registry.
                registration.start()
                print(f"registered {registration.key} with a {registration.ttl} s lease", flush=True)

        def handle_exit(self, sig, frame) -> None:
            if registration is None or self.leaving:
                return super().handle_exit(sig, frame)
            self.leaving = True
            threading.Thread(target=self._leave, args=(sig, frame), daemon=True).start()

        def _leave(self, sig, frame) -> None:
            registration.close()
            print(f"deregistered {registration.key}; serving {DRAIN_S} s more for calls on their way",
                  flush=True)
            time.sleep(DRAIN_S)
            super().handle_exit(sig, frame)

    Server(uvicorn.Config(app, host=host, port=port, workers=1, log_level="warning")).run()
