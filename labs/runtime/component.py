"""What a component is (a spec, registered by the components layer) and a running instance of it.

Layer: runtime.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import args
from .errors import LabError, StartError, UnknownComponent
from .paths import state_root
from .ports import free_port, is_listening
from .forkserver import process_for
from .process import ManagedProcess, ProcessSpec
from .reaper import Reaper
from .seat import describe as describe_seat, seat_endpoint
from .waiting import wait_ready


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Prerequisite:
    """One thing a component needs on this machine, and the exact command that provides it."""
    what: str
    found: str | None
    fix: str
    required: bool = True


class ComponentSpec:
    """Subclass per component (in labs.components) and register an instance with `register`."""
    name: str = ""
    summary: str = ""
    port_names: tuple[str, ...] = ()  # one free loopback port is allocated for each
    start_timeout: float = 30.0
    slow: bool = False  # worth starting in the background while the learner reads
    requires: tuple[str, ...] = ()  # started first; their endpoints reach the process as LABS_DEPENDENCIES
    defaults: dict[str, Any] = {}
    max_replicas: int = 1  # above 1, the option "replicas": n runs n copies, each on its own ports

    def validate_options(self, options: dict[str, Any]) -> dict[str, Any]:
        allowed_names = set(self.defaults) | ({"replicas"} if self.max_replicas > 1 else set())
        unknown = set(options) - allowed_names
        if unknown:
            allowed = ", ".join(sorted(allowed_names)) or "none"
            raise LabError(f"{self.name} has no option {sorted(unknown)[0]!r}; options: {allowed}")
        if "replicas" in options:
            args.whole("replicas", options["replicas"], 1, self.max_replicas)
        return {**self.defaults, **options}

    def requirements(self, options: dict[str, Any]) -> tuple[str, ...]:
        """The components to start first: `requires`, plus any an option asks for (a registry to join)."""
        return self.requires

    def processes(self, data_dir: Path, ports: dict[str, int], options: dict) -> list[ProcessSpec]:
        raise NotImplementedError

    def endpoint(self, ports: dict[str, int], options: dict) -> dict[str, str]:
        raise NotImplementedError

    def probe(self, endpoint: dict[str, str], options: dict) -> None:
        """Raise unless the component answers in its own protocol."""
        raise NotImplementedError

    def prerequisites(self) -> list[Prerequisite]:
        return []

    def external_endpoint(self) -> dict[str, str] | None:
        """An endpoint of an instance the learner runs elsewhere (e.g. LABS_KAFKA_BOOTSTRAP)."""
        return None

    def reset(self, endpoint: dict[str, str], options: dict, data_dir: Path | None = None) -> str | None:
        """Bring a running instance back to a lesson's starting state without restarting it (what
        `lab.reset()` does), and say what was done in a few words ("2 topics deleted"). `data_dir`
        is the instance's own folder on the local backend, None elsewhere. Default: nothing to reset."""
        return None


_registry: dict[str, ComponentSpec] = {}


def register(spec: ComponentSpec) -> ComponentSpec:
    _registry[spec.name] = spec
    return spec


def get_spec(name: object) -> ComponentSpec:
    if not isinstance(name, str) or name not in _registry:
        raise UnknownComponent(name, sorted(_registry))
    return _registry[name]


def component_names() -> list[str]:
    return list(_registry)


class Component:
    """Interface both backends implement for one component instance."""
    name: str
    spec: ComponentSpec
    options: dict
    state: str = "new"  # new, starting, ready, failed, stopped, killed
    ready_seconds: float | None = None
    error: BaseException | None = None
    extra_env: dict[str, str] = {}  # set by the session: LABS_DEPENDENCIES, LABS_TRACE_DIR

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def kill(self) -> None: ...
    def restart(self) -> None:
        self.stop(keep_data=True)
        self.start()
    def alive(self) -> bool: ...
    def logs(self, lines: int = 50) -> str: ...
    def rss_bytes(self) -> int: ...
    def pids(self) -> list[int]: return []
    def listeners(self) -> list[str]: return []

    def reset(self) -> str | None:
        """The spec's reset hook on this running instance (see ComponentSpec.reset)."""
        return self.spec.reset(self.endpoint, self.options, None)

    @property
    def endpoint(self) -> dict[str, str]:
        raise NotImplementedError


class LocalComponent(Component):
    """A component run as plain processes on this machine (the default backend)."""

    def __init__(self, spec: ComponentSpec, options: dict, reaper: Reaper, name: str | None = None):
        # `name` differs from the spec's for one replica of several ("concerts-2"): its log, data dir, state
        self.spec, self.name, self.options, self._reaper = spec, name or spec.name, options, reaper
        self._lock = threading.RLock()
        self._procs: list[ManagedProcess] = []
        self._external = spec.external_endpoint()
        self.seat = ""  # with LABS_CLASS: the class server's seat this component runs on
        if self._external is None:
            self._external = seat_endpoint(spec.name)
            self.seat = describe_seat() if self._external is not None else ""
        self._ports: dict[str, int] = {}
        self.data_dir: Path | None = None
        self.log_path: Path | None = None
        self._state_file: Path | None = None

    @property
    def endpoint(self) -> dict[str, str]:
        if self._external is not None:
            return dict(self._external)
        if not self._ports:
            raise LabError(f"{self.name} has not been started")
        return self.spec.endpoint(self._ports, self.options)

    @property
    def external(self) -> bool:
        """Run by the learner elsewhere (e.g. LABS_KAFKA_BOOTSTRAP). A class server's seat is not: its
        brokers are the lab's own kinds, which lessons treat like local ones."""
        return self._external is not None and not self.seat

    def start(self) -> None:
        with self._lock:
            self.state, self.error = "starting", None
            started = time.monotonic()
            try:
                if self._external is None:
                    self._spawn()
                wait_ready(lambda: self.spec.probe(self.endpoint, self.options),
                           timeout=float(os.environ.get("LABS_START_TIMEOUT", self.spec.start_timeout)),
                           interval=0.05, giving_up=self._exited)
            except BaseException as exc:
                self.state, self.error = "failed", exc
                tail = self.logs(25) if self.log_path else ""
                self.stop(keep_data=True)
                self.state = "failed"
                reason = str(exc) if isinstance(exc, (TimeoutError, LabError, OSError)) else repr(exc)
                self.error = StartError(self.name, reason, tail, str(self.log_path or ""))
                raise self.error from exc
            self.ready_seconds = time.monotonic() - started
            self.state = "ready"
            self._write_state()

    def _spawn(self) -> None:
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix=f"{self.name}-", dir=state_root()))
            self._reaper.remove_dir_later(str(self.data_dir))
            self.log_path = self.data_dir / f"{self.name}.log"
            self._ports = {p: free_port() for p in self.spec.port_names}
        specs = self.spec.processes(self.data_dir, self._ports, self.options)
        for ps in specs:
            ps.env = {**self.extra_env, **ps.env}
        specs.sort(key=lambda s: not s.helper)
        for ps in specs:
            existing = next((p for p in self._procs if p.spec.role == ps.role and p.running()), None)
            if existing is not None:  # e.g. epmd kept running across a broker restart
                continue
            proc = process_for(ps, self.log_path, self._reaper)  # forked when ps.preload names modules
            proc.start()
            self._procs = [p for p in self._procs if p.spec.role != ps.role] + [proc]
            if ps.helper and ps.wait_port:
                wait_ready(lambda: _require(is_listening(ps.wait_port), f"{ps.role} port {ps.wait_port}"),
                           timeout=10, giving_up=lambda: _exited_message(proc))

    def _exited(self) -> str | None:
        for p in self._procs:
            code = p.exit_code()
            if code is not None:
                return f"its {p.spec.role} process exited with code {code} before it was ready"
        return None

    def alive(self) -> bool:
        if self._external is not None:
            return self.state == "ready"
        return bool(self._procs) and all(p.running() for p in self._procs)

    def stop(self, keep_data: bool = False) -> None:
        with self._lock:
            main = [p for p in self._procs if not p.spec.helper]
            helpers = [p for p in self._procs if p.spec.helper]
            threads = [threading.Thread(target=p.stop) for p in main]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if not keep_data:
                for p in helpers:
                    p.stop()
                self._procs = []
                if self.data_dir is not None:
                    shutil.rmtree(self.data_dir, ignore_errors=True)
                    self._reaper.forget_dir(str(self.data_dir))
                    self.data_dir = None
                if self._state_file is not None:
                    self._state_file.unlink(missing_ok=True)
            else:
                self._procs = helpers
            self.state = "stopped"

    def _not_on_a_seat(self, what: str) -> None:
        if self.seat:
            raise LabError(f"{self.name} runs on the class server ({self.seat}), shared by the class: it cannot be "
                           f"{what} from here. Run this part with your own {self.name}: unset LABS_CLASS")

    def kill(self) -> None:
        self._not_on_a_seat("killed")
        with self._lock:
            for p in self._procs:
                if not p.spec.helper:
                    p.kill()
            self.state = "killed"

    def reset(self) -> str | None:
        with self._lock:
            return self.spec.reset(self.endpoint, self.options, self.data_dir)

    def restart(self, new_ports: bool = False) -> None:
        """Stop and start again on the same data dir (durable data survives), on the same ports, or
        with `new_ports=True` on fresh ones: the instance moved, as after a reschedule."""
        self._not_on_a_seat("restarted")
        self.stop(keep_data=True)
        if new_ports and self._external is None:
            self._ports = {p: free_port() for p in self.spec.port_names}
        self.start()

    def logs(self, lines: int = 50) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 512 * max(lines, 1) - 4096))
            text = f.read().decode("utf-8", "replace")
        text = _ANSI.sub("", text)  # RabbitMQ colours its console log
        return "\n".join(text.splitlines()[-lines:]) if lines > 0 else ""

    def rss_bytes(self) -> int:
        return sum(p.rss_bytes() for p in self._procs)

    def pids(self) -> list[int]:
        return [p.pid for p in self._procs if p.running()]

    def listeners(self) -> list[str]:
        """The "ip:port" addresses this component's processes listen on (to show they are loopback)."""
        return sorted({addr for p in self._procs for addr in p.listeners()})

    def _write_state(self) -> None:
        if self.data_dir is None:
            return
        self._state_file = self.data_dir / "state.json"
        self._state_file.write_text(json.dumps({
            "name": self.name, "owner": os.getpid(), "endpoint": self.endpoint,
            "pids": self.pids(), "data_dir": str(self.data_dir), "backend": "local",
            "ready_seconds": self.ready_seconds,
        }))


def _require(ok: bool, what: str) -> None:
    if not ok:
        raise ConnectionError(f"{what} not listening yet")


def _exited_message(proc: ManagedProcess) -> str | None:
    code = proc.exit_code()
    return None if code is None else f"its {proc.spec.role} process exited with code {code}"
