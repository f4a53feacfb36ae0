"""A lab service written in Python: one process with an HTTP port, a gRPC port, or both.

The process is started as `python -m <module> --host 127.0.0.1 [--http-port P] [--grpc-port Q]`
and is ready when GET /health answers 2xx and, with gRPC, the standard health check says SERVING.

Layer: runtime.
"""
from __future__ import annotations

import sys
from pathlib import Path

from .component import ComponentSpec
from .ports import HOST
from .probes import grpc_health, http_health
from .process import ProcessSpec


class PythonService(ComponentSpec):
    module: str = ""
    http: bool = True
    grpc: bool = False
    start_timeout = 30.0
    # Third-party modules the service imports: with any named, it is forked from the session's warm
    # interpreter that has imported them once (labs.runtime.forkserver), not started afresh.
    preload: tuple[str, ...] = ()
    # The service's own "back to the start" endpoint (POST), which lab.reset() calls; None: nothing kept.
    reset_path: str | None = None
    reset_says = "state back to the start"

    @property
    def port_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(name for name, on in (("http", self.http), ("grpc", self.grpc)) if on)

    def command(self) -> list[str]:
        return [sys.executable, "-m", self.module]

    def processes(self, data_dir: Path, ports: dict[str, int], options: dict) -> list[ProcessSpec]:
        argv = [*self.command(), "--host", HOST]
        if self.http:
            argv += ["--http-port", str(ports["http"])]
        if self.grpc:
            argv += ["--grpc-port", str(ports["grpc"])]
        return [ProcessSpec(argv, env={"PYTHONUNBUFFERED": "1"}, cwd=str(data_dir), stop_timeout=5,
                            preload=self.preload)]

    def endpoint(self, ports: dict[str, int], options: dict) -> dict[str, str]:
        ep = {}
        if self.http:
            ep["http"] = f"http://{HOST}:{ports['http']}"
        if self.grpc:
            ep["grpc"] = f"{HOST}:{ports['grpc']}"
        return ep

    def reset(self, endpoint: dict[str, str], options: dict, data_dir: Path | None = None) -> str | None:
        if self.reset_path is None:
            return None
        import httpx
        httpx.post(endpoint["http"] + self.reset_path, timeout=10).raise_for_status()
        return self.reset_says

    def probe(self, endpoint: dict[str, str], options: dict) -> None:
        if self.http:
            http_health(endpoint["http"])
        if self.grpc:
            grpc_health(endpoint["grpc"])
