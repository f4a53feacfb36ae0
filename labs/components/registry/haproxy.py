"""HAProxy as a lab component: server-side discovery, one address in front of a registered service.

Layer: components. One idea: a proxy keeps the pool; the client knows one address.

    lab = labs.start("haproxy", options={"haproxy": {"service": "concerts"}})
    lab.endpoint("haproxy")  # {"http": "http://127.0.0.1:P", "stats": "http://127.0.0.1:S/", "admin": "127.0.0.1:A"}

Two processes: HAProxy itself (Debian's `haproxy` 2.6, `brew install haproxy`) and `pool_sync`,
which watches /services/<service>/ in etcd and fills HAProxy's server slots through its runtime API
(the admin socket, TCP on loopback). HAProxy checks every server actively (GET <health> every
CHECK_MS, out after FALL failures) and passively (a refused connection marks it down at once:
`observe layer4`, `error-limit 1`), and never retries a failed call (`retries 0`), so a lesson
counts every call a dead instance costs.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ...runtime.component import ComponentSpec, Prerequisite, register
from ...runtime.errors import MissingPrerequisite
from ...runtime.ports import HOST
from ...runtime.process import ProcessSpec
from ...runtime.setup_hints import install_hint

SLOTS = 9  # servers HAProxy can hold: as many as a service has replicas at most
CHECK_MS = 500
FALL, RISE = 2, 2

CONFIG = """\
global
    maxconn 512
    stats socket ipv4@{host}:{admin} level admin
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    retries 0
frontend front
    bind {host}:{http}
    default_backend {service}
backend {service}
    balance roundrobin
    option httpchk GET {health}
    http-check expect status 200
    default-server check inter {check_ms}ms fall {fall} rise {rise} observe layer4 error-limit 1 on-error mark-down
    server-template slot 1-{slots} {host}:9 disabled
listen stats
    bind {host}:{stats}
    stats enable
    stats uri /
    stats refresh 1s
"""


def haproxy_binary() -> str | None:
    explicit = os.environ.get("LABS_HAPROXY_BIN")
    if explicit:
        return explicit
    for path in (shutil.which("haproxy"), "/usr/sbin/haproxy"):
        if path and os.access(path, os.X_OK):
            return path
    return None


class HAProxy(ComponentSpec):
    name = "haproxy"
    summary = "HAProxy in front of a registered service: pool from etcd, health checks, retries 0"
    port_names = ("http", "stats", "admin")
    requires = ("etcd",)
    start_timeout = 20.0
    defaults = {"service": "concerts", "health": "/concerts"}

    def prerequisites(self) -> list[Prerequisite]:
        return [Prerequisite("haproxy", haproxy_binary(), install_hint("haproxy"))]

    def processes(self, data_dir: Path, ports: dict[str, int], options: dict) -> list[ProcessSpec]:
        binary = haproxy_binary()
        if not binary:
            raise MissingPrerequisite(f"haproxy is not installed; {install_hint('haproxy')}")
        config = data_dir / "haproxy.cfg"
        config.write_text(CONFIG.format(host=HOST, slots=SLOTS, check_ms=CHECK_MS, fall=FALL, rise=RISE,
                                        service=options["service"], health=options["health"], **ports))
        sync = [sys.executable, "-m", "labs.components.registry.pool_sync", options["service"],
                f"{HOST}:{ports['admin']}", "--slots", str(SLOTS)]
        return [ProcessSpec([binary, "-f", str(config), "-db"], cwd=str(data_dir), stop_timeout=5),
                ProcessSpec(sync, role="pool-sync", env={"PYTHONUNBUFFERED": "1"}, cwd=str(data_dir),
                            stop_timeout=3)]

    def endpoint(self, ports: dict[str, int], options: dict) -> dict[str, str]:
        return {"http": f"http://{HOST}:{ports['http']}", "stats": f"http://{HOST}:{ports['stats']}/",
                "admin": f"{HOST}:{ports['admin']}"}

    def probe(self, endpoint: dict[str, str], options: dict) -> None:
        import httpx
        httpx.get(endpoint["stats"] + ";csv", timeout=2).raise_for_status()
        from .pool_sync import admin
        if "slot1" not in admin(endpoint["admin"], "show servers state"):
            raise ConnectionError("HAProxy's runtime API does not list the server slots yet")


HAPROXY = register(HAProxy())
