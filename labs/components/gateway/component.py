"""The API gateway as lab components: `gateway` (Envoy), a replica `gateway-2`, the `edge` balancer
in front of both, and the mobile `bff` behind the gateway.

    lab = labs.start("gateway")     # the five ticketing services and the BFF first, then Envoy
    lab.endpoint("gateway")         # {"http": "http://127.0.0.1:P", "admin": "http://127.0.0.1:A"}
    lab.logs("gateway")             # Envoy's log: one line per request, then its warnings
    labs.start("edge")              # gateway + gateway-2 behind a health-checking TCP balancer
    labs.start("gateway", options={"gateway": {"rate_limit": 5, "retries": 0}})

Layer: components. Options of a gateway (see config.DEFAULTS): rate_limit and rate_window_s (per client
on the catalogue route, 0 = none), rate_limit_rule (a whole local_ratelimit rule instead), retries,
max_requests (circuit breaker), max_body_bytes, clock_skew_s, require_jwt. Each start writes the config
in the data dir (envoy.template.json, then envoy.json with the services' addresses).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ...protos.generate import descriptor_set
from ...runtime.component import ComponentSpec, Prerequisite, register
from ...runtime.errors import LabError
from ...runtime.ports import HOST
from ...runtime.process import ProcessSpec
from ...runtime.service import PythonService
from . import config, envoy
from .keys import session_keys

LAUNCH = Path(__file__).resolve().parent / "launch.py"
FRONTED = ("users", "concerts", "payments", "notifications", "orders", "bff")


def _probe(endpoint: dict[str, str]) -> None:
    """Ready when Envoy's admin says LIVE and the public listener answers /health."""
    import httpx

    httpx.get(endpoint["admin"] + "/ready", timeout=2).raise_for_status()
    httpx.get(endpoint["http"] + "/health", timeout=2).raise_for_status()


class EnvoySpec(ComponentSpec):
    port_names = ("http", "admin")
    start_timeout = 20.0  # ~0.3 s here

    def config(self, data_dir: Path, ports: dict[str, int], options: dict) -> dict:
        raise NotImplementedError

    def processes(self, data_dir: Path, ports: dict[str, int], options: dict) -> list[ProcessSpec]:
        envoy.require()  # a missing binary fails here, with the install command
        template = data_dir / "envoy.template.json"
        template.write_text(json.dumps(self.config(data_dir, ports, options), indent=1))
        command = [sys.executable, str(LAUNCH), str(template), str(data_dir / "envoy.json"),
                   *envoy.argv(data_dir / "envoy.json")]
        return [ProcessSpec(command, env={"LABS_COMPONENT": self.name}, cwd=str(data_dir), stop_timeout=5)]

    def endpoint(self, ports: dict[str, int], options: dict) -> dict[str, str]:
        return {"http": f"http://{HOST}:{ports['http']}", "admin": f"http://{HOST}:{ports['admin']}"}

    def probe(self, endpoint: dict[str, str], options: dict) -> None:
        _probe(endpoint)

    def reset(self, endpoint: dict[str, str], options: dict, data_dir: Path | None = None) -> str | None:
        """The admin's counters zeroed: a lesson counts 429s and retries from /stats, from nothing."""
        import httpx
        httpx.post(endpoint["admin"] + "/reset_counters", timeout=5).raise_for_status()
        return "stats counters zeroed"


class Gateway(EnvoySpec):
    name = "gateway"
    summary = "API gateway (Envoy): REST->gRPC, JWT, per-client rate limits, retries, gRPC-Web"
    requires = FRONTED
    defaults = dict(config.DEFAULTS)

    def prerequisites(self) -> list[Prerequisite]:  # the replica and the balancer need the same binary
        found = envoy.binary()
        if found:
            try:
                found = f"{found} (Envoy {envoy.version()})"
            except (OSError, ValueError, subprocess.SubprocessError):
                found = None  # there, but it does not run
        return [Prerequisite(f"envoy (from {envoy.source()})", found, envoy.install_hint())]

    def config(self, data_dir: Path, ports: dict[str, int], options: dict) -> dict:
        cfg = config.gateway(
            http_port=ports["http"], admin_port=ports["admin"],
            services={n: {"grpc": config.placeholder(n, "grpc")} for n in config.SERVICES},
            bff=config.placeholder("bff", "http"), jwks=session_keys().jwks_path,
            descriptors=descriptor_set(data_dir / "ticketing.pb"), options=options, name=self.name)
        if options.get("rate_limit_rule") is not None:
            # A rule written by hand: ask Envoy first, so a refusal reads as its reason in one line
            # (a failed start prints the reason followed by the whole config). ~0.3 s, so only then.
            envoy.validate(config.with_addresses(cfg, "127.0.0.1:1"))
        return cfg


class GatewayReplica(Gateway):
    name = "gateway-2"
    summary = "a second replica of the API gateway (same config, same token keys)"

    def prerequisites(self) -> list[Prerequisite]:
        return []


class Edge(EnvoySpec):
    name = "edge"
    summary = "TCP balancer (Envoy) with health checks in front of gateway and gateway-2"
    requires = ("gateway", "gateway-2")
    # How many gateway replicas the balancer spreads over. Not called "replicas": that option asks the
    # runtime for N copies of a component itself (labs.runtime.replicas).
    defaults = {"gateways": 2}

    def validate_options(self, options: dict) -> dict:
        merged = super().validate_options(options)
        if merged["gateways"] not in (1, 2):
            raise LabError(f"edge option gateways must be 1 or 2 (gateway, gateway-2), got {merged['gateways']!r}")
        return merged

    def config(self, data_dir: Path, ports: dict[str, int], options: dict) -> dict:
        replicas = ("gateway", "gateway-2")[:options["gateways"]]
        return config.balancer(port=ports["http"], admin_port=ports["admin"],
                               replicas=[config.placeholder(r, "http") for r in replicas])


class Bff(PythonService):
    name = "bff"
    summary = "the mobile app's backend-for-frontend: one screen, three services in parallel"
    module = "labs.components.gateway.bff"
    requires = ("users", "orders", "notifications")
    reset_path, reset_says = "/admin/reset", "fault rules removed"


GATEWAY, GATEWAY_2, EDGE, BFF = (register(spec) for spec in (Gateway(), GatewayReplica(), Edge(), Bff()))
