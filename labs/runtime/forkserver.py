"""Python services forked from a warm interpreter, so FastAPI, grpc and pydantic are imported once
per session instead of once per service.

    ProcessSpec([sys.executable, "-m", "labs.components.ticketing.serve", "users", ...],
                preload=("fastapi", "grpc", "uvicorn"))
    proc = forkserver.process_for(spec, log_path, reaper)   # a ForkedProcess: a ManagedProcess
    proc.start()                                             # ~0.1 s of CPU instead of ~0.6 s

Layer: runtime. One idea: `python -m module args` as a fork of an interpreter that has already
imported the third-party modules the spec names.

How: the first such start runs zygote.py as a script (the "fork server"), in its own session and
watched by the session's reaper. It imports the modules a request names (only third-party ones:
the lab's own modules keep state such as random generators that children must not share, so each
child imports `labs` itself) and forks; the child starts a new session (so `stop()` and `kill()`
take its process group, exactly as for a spawned process), sends its output to the component's
log, takes the request's environment and working directory, and runs the module as `__main__`.
The server reaps its children and tells the lab their exit codes. It stays single-threaded, so
forking is safe; it exits when the lab closes its pipe.

A child's sys.path is the fork server's (the lab's own interpreter and environment). Linux only
by default (on macOS, frameworks initialised before a fork can crash the child); LABS_FORKSERVER=0
turns it off, and any failure of the fork server falls back to starting a new interpreter.
Nothing on PyPI does this for arbitrary modules (multiprocessing's forkserver runs functions, not
`python -m`, and its children are not in their own sessions), so it is written here.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from .process import ManagedProcess, ProcessSpec
from .reaper import Reaper

_SCRIPT = Path(__file__).resolve().parent / "zygote.py"  # the server: stdlib only, run as a script


class ForkServerError(RuntimeError):
    """The fork server could not start a process (the caller falls back to a new interpreter)."""


def usable() -> bool:
    if os.environ.get("LABS_FORKSERVER", "1").strip() in ("0", "no", "off", "false"):
        return False
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def _module_argv(argv: list[str]) -> tuple[str, list[str]] | None:
    """("module", args) for `[sys.executable, "-m", module, *args]`, else None."""
    if len(argv) >= 3 and argv[0] == sys.executable and argv[1] == "-m":
        return argv[2], list(argv[3:])
    return None


class _Client:
    """The lab's side: one fork server per Python process, started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None

    def _ensure(self, reaper: Reaper) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-u", str(_SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True, text=True, bufsize=1)
            reaper.watch(self._proc.pid)
        return self._proc

    def call(self, reaper: Reaper | None, **request) -> dict:
        with self._lock:
            if reaper is None and (self._proc is None or self._proc.poll() is not None):
                raise ForkServerError("the fork server is not running")
            proc = self._ensure(reaper) if reaper is not None else self._proc
            try:
                proc.stdin.write(json.dumps(request) + "\n")
                proc.stdin.flush()
                line = proc.stdout.readline()
            except (OSError, ValueError) as exc:
                raise ForkServerError(f"the fork server went away ({exc})") from exc
            if not line:
                raise ForkServerError(f"the fork server exited with code {proc.wait()}")
            answer = json.loads(line)
            if "error" in answer:
                raise ForkServerError(answer["error"])
            return answer


_client = _Client()


class ForkedPopen:
    """What ManagedProcess uses of a subprocess.Popen, for a process the fork server started."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                self.returncode = _client.call(None, op="status", pid=self.pid)["code"]
            except ForkServerError:
                # The server is gone: its children were re-parented and are reaped elsewhere.
                self.returncode = None if _alive(self.pid) else -1
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout)
            time.sleep(0.02)
        return self.returncode


def _alive(pid: int) -> bool:
    import psutil
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class ForkedProcess(ManagedProcess):
    """A ManagedProcess whose process is forked by the fork server (see the module docstring)."""

    def start(self) -> None:
        target = _module_argv(self.spec.argv)
        if target is None or not usable():
            return super().start()
        module, args = target
        with open(self.log_path, "ab") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} starting {' '.join(self.spec.argv)} "
                      f"(forked from the warm interpreter)\n".encode())
        try:
            pid = _client.call(self._reaper, op="fork", preload=list(self.spec.preload), module=module,
                               args=args, env=self.environment(), cwd=self.spec.cwd or os.getcwd(),
                               log=str(self.log_path))["pid"]
        except ForkServerError as exc:
            self.note(f"fork server unavailable ({exc}); starting a new interpreter instead")
            return super().start()
        self.popen = ForkedPopen(pid)
        self._reaper.watch(pid)


def process_for(spec: ProcessSpec, log_path: Path, reaper: Reaper) -> ManagedProcess:
    """The process object for `spec`: forked when it names modules to preload, spawned otherwise."""
    return (ForkedProcess if spec.preload else ManagedProcess)(spec, log_path, reaper)
