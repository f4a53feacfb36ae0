"""A short-lived extra gateway with options of its own, beside the lab's: `ScratchGateway`.

    from labs.components.gateway.scratch import ScratchGateway
    with ScratchGateway(lab, {"rate_limit_rule": rule}) as trial:   # EnvoyRejected if Envoy says no
        httpx.get(trial.endpoint["http"] + "/v1/concerts/c1", headers=...)
        trial.logs()

Layer: components. Exercise 08.1 tries a learner's rate-limit rule on one of these, so the lab's own
gateway keeps its config (and its addresses, which the balancer and the notebook hold). It fronts the
same running services; the config is checked with `envoy --mode validate` first, so a rule Envoy
refuses comes back as Envoy's own message rather than as a start that timed out. Its process is
watched by the session's reaper like every component's: it dies with the kernel.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ...protos.generate import descriptor_set
from ...runtime.lab import session_reaper
from ...runtime.paths import state_root
from ...runtime.ports import HOST, free_port
from ...runtime.process import ManagedProcess, ProcessSpec
from ...runtime.waiting import wait_ready
from . import config, envoy
from .keys import session_keys

FRONTED = ("users", "concerts", "payments", "notifications", "orders", "bff")


class ScratchGateway:
    def __init__(self, lab: Any, options: dict | None = None, name: str = "gateway-trial"):
        self.name = name
        self.options = {**config.DEFAULTS, **(options or {})}
        self._services = {n: lab.endpoint(n) for n in FRONTED if n in getattr(lab, "names", FRONTED)}
        self._ports = {"http": free_port(), "admin": free_port()}
        self.endpoint = {k: f"http://{HOST}:{v}" for k, v in self._ports.items()}
        self.data_dir: Path | None = None
        self._proc: ManagedProcess | None = None

    def start(self) -> "ScratchGateway":
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"{self.name}-", dir=state_root()))
        reaper = session_reaper()
        reaper.remove_dir_later(str(self.data_dir))
        cfg = config.gateway(http_port=self._ports["http"], admin_port=self._ports["admin"],
                             services=self._services, bff=self._services.get("bff", {}).get("http"),
                             jwks=session_keys().jwks_path, descriptors=descriptor_set(self.data_dir / "ticketing.pb"),
                             options=self.options, name=self.name)
        path = self.data_dir / "envoy.json"
        path.write_text(json.dumps(cfg, indent=1))
        try:
            envoy.validate(path)
        except BaseException:
            self.stop()
            raise
        self._proc = ManagedProcess(ProcessSpec(envoy.argv(path), env={"LABS_COMPONENT": self.name},
                                                stop_timeout=5), self.data_dir / "envoy.log", reaper)
        self._proc.start()
        try:
            wait_ready(self._probe, timeout=20, interval=0.05, giving_up=self._exited)
        except BaseException:
            self.stop()
            raise
        return self

    def _probe(self) -> None:
        import httpx
        httpx.get(self.endpoint["admin"] + "/ready", timeout=2).raise_for_status()
        httpx.get(self.endpoint["http"] + "/health", timeout=2).raise_for_status()

    def _exited(self) -> str | None:
        code = self._proc.exit_code() if self._proc else None
        return None if code is None else f"Envoy exited with code {code}: {envoy.rejection(self.logs())}"

    def logs(self, lines: int = 50) -> str:
        if self.data_dir is None or not (self.data_dir / "envoy.log").exists():
            return ""
        return "\n".join((self.data_dir / "envoy.log").read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.stop()
            self._proc = None
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            session_reaper().forget_dir(str(self.data_dir))
            self.data_dir = None

    def __enter__(self) -> "ScratchGateway":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
