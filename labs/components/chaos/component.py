"""`chaos` as a lab component: `labs.start("chaos")` runs the proxy server; endpoint {"http": API base URL}."""
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


    def reset(self, endpoint: dict[str, str], options: dict, data_dir: Path | None = None) -> str | None:
        """Toxiproxy's POST /reset: every toxic removed, every proxy enabled (the proxies stay)."""
        import httpx
        httpx.post(endpoint["http"] + "/reset", timeout=10).raise_for_status()
        return "every toxic removed, every proxy enabled"


register(Chaos())
