"""`chaos` as a lab component: the runtime starts the proxy server as a process of its own.

    lab = labs.start("chaos")
    lab.endpoint("chaos")["http"]        # the Toxiproxy-compatible API's base URL

One idea: registration (the module to run, that it serves HTTP, how long it may take to start).

Layer: components.
"""
from __future__ import annotations

from pathlib import Path

from ...runtime.component import register
from ...runtime.service import PythonService


class Chaos(PythonService):
    name = "chaos"
    summary = "fault-injecting TCP proxies with Toxiproxy's HTTP API (latency, bandwidth, resets, down)"
    module = "labs.components.chaos"
    http = True
    grpc = False
    start_timeout = 15.0
    # No options: labs.start restarts a component whose options differ, which would drop every
    # proxy. Seed a proxy instead (its `seed` field); `--seed` exists for running the server by hand.

    def probe(self, endpoint: dict[str, str], options: dict) -> None:
        # GET /version, which Toxiproxy answers too: the docker backend runs the real Toxiproxy.
        import httpx
        httpx.get(endpoint["http"].rstrip("/") + "/version", timeout=2.0).raise_for_status()


    def reset(self, endpoint: dict[str, str], options: dict, data_dir: Path | None = None) -> str | None:
        """Toxiproxy's POST /reset: every toxic removed, every proxy enabled (the proxies stay)."""
        import httpx
        httpx.post(endpoint["http"] + "/reset", timeout=10).raise_for_status()
        return "every toxic removed, every proxy enabled"


register(Chaos())
