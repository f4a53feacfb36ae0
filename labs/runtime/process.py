"""One OS process of a component: spawned in its own session, logged to a file, stoppable as a group.

Layer: runtime.
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from .reaper import Reaper, stop_group


@dataclass
class ProcessSpec:
    """What to run. `role` names the process within its component ("server", "epmd", ...)."""
    argv: list[str]
    role: str = "server"
    env: dict[str, str | None] = field(default_factory=dict)
    cwd: str | None = None
    helper: bool = False  # helpers start first, stop last, and survive `kill()` (e.g. epmd)
    stop_timeout: float = 15.0
    wait_port: int | None = None  # for helpers: wait until this loopback port listens
    # For `python -m module ...` argv: fork it from the session's warm interpreter, which has
    # imported these modules once (labs.runtime.forkserver); empty: a new interpreter.
    preload: tuple[str, ...] = ()


class ManagedProcess:
    def __init__(self, spec: ProcessSpec, log_path: Path, reaper: Reaper):
        self.spec, self.log_path, self._reaper = spec, log_path, reaper
        self.popen: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update(self.spec.env)
        return {k: v for k, v in env.items() if v is not None}  # None in a spec means "unset"

    def start(self) -> None:
        env = self.environment()
        with open(self.log_path, "ab") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} starting {shlex.join(self.spec.argv)}\n".encode())
            log.flush()
            # A new session: the component's whole process tree can be stopped with one
            # killpg, and a Ctrl-C in the terminal or an interrupted kernel does not reach it.
            self.popen = subprocess.Popen(
                self.spec.argv, env=env, cwd=self.spec.cwd, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
            )
        self._reaper.watch(self.popen.pid)

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def exit_code(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def note(self, event: str) -> None:
        """Write a marker line into the log, so a reader sees what the lab did and when."""
        with open(self.log_path, "ab") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} {event}\n".encode())

    def stop(self) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            stop_group(self.popen.pid, grace=self.spec.stop_timeout)
            self.note(f"stopped {self.spec.role} (SIGTERM), exit code {self.popen.poll()}")
        self._reap()

    def kill(self) -> None:
        """SIGKILL the whole process group at once, as a crash would."""
        if self.popen is None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.note(f"killed {self.spec.role} with SIGKILL (lab.kill)")
        except (ProcessLookupError, PermissionError):
            pass
        self._reap()

    def _reap(self) -> None:
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._reaper.unwatch(self.popen.pid)

    def rss_bytes(self) -> int:
        """Resident memory of the process and all its descendants."""
        if not self.running():
            return 0
        try:
            root = psutil.Process(self.popen.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def listeners(self) -> list[str]:
        if not self.running():
            return []
        found = []
        try:
            root = psutil.Process(self.popen.pid)
            for proc in [root, *root.children(recursive=True)]:
                for conn in proc.net_connections(kind="tcp"):
                    if conn.status == psutil.CONN_LISTEN:
                        ip, port = conn.laddr
                        ip = ip.removeprefix("::ffff:")  # an IPv4-mapped address is that IPv4 address
                        found.append(f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}")
        except psutil.Error:
            pass
        return found
