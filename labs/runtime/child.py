"""Child processes a lesson starts itself: a consumer-group member, a consumer to SIGKILL mid-message,
a saga participant. One helper for all of them, tied to the kernel's life like every component.

Layer: runtime.

    from labs.runtime.child import Child
    member = Child("labs.lessons.consumer_groups", "member", json.dumps(config), name="m1")
    member.wait_for("assigned")          # the first {"event": "assigned", ...} line it printed
    member.kill()                        # SIGKILL, as a crash would; returns when it happened
    member.events                        # every JSON line it printed, in order (+ an "exited" one)

The child side prints one JSON object per line on stdout, with `say()`:

    from labs.runtime.child import say
    say("ready"); say("got", body=...)

Each child runs in its own session (so `kill()` takes its whole process group, and a Ctrl-C or an
interrupted kernel does not reach it) and is watched by the session's reaper, the same watchdog that
stops the components: when the kernel dies, even by SIGKILL, the child is stopped. A child that dies
before the event a caller waits for raises ChildExited with the last lines it wrote on stderr.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from . import args
from .errors import LabError

STDERR_LINES = 20


class ChildExited(LabError):
    """The child ended before what the caller was waiting for; the message quotes its stderr."""


def say(event: str, **fields: Any) -> None:
    """The child's side: report `event` (with a timestamp) on stdout, one JSON object per line."""
    print(json.dumps({"event": event, "t": time.time(), **fields}, default=str), flush=True)


class Child:
    """`python -m <module> <argv...>` as a child of this kernel; its stdout lines become `events`."""

    def __init__(self, module: str, *argv: str, name: str | None = None,
                 env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        from .lab import session_reaper  # the components' watchdog

        self.name = args.text("name", module.rsplit(".", 1)[-1] if name is None else name)
        self.events: list[dict] = []
        self.lines: list[str] = []          # stdout lines that were not JSON objects
        self.stderr: list[str] = []         # the last STDERR_LINES lines it wrote on stderr
        self._changed = threading.Condition()
        self._reaper = session_reaper()
        self.popen = subprocess.Popen(
            [sys.executable, "-m", module, *map(str, argv)], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
            start_new_session=True, close_fds=True, env={**os.environ, **(env or {})})
        self._reaper.watch(self.popen.pid)
        threading.Thread(target=self._read_stdout, name=f"child-{self.name}", daemon=True).start()
        threading.Thread(target=self._read_stderr, name=f"child-{self.name}-stderr", daemon=True).start()

    # ---- what it says

    def _read_stderr(self) -> None:
        for line in self.popen.stderr:
            self.stderr = (self.stderr + [line.rstrip()])[-STDERR_LINES:]

    def _read_stdout(self) -> None:
        for line in self.popen.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                event = None
            with self._changed:
                if isinstance(event, dict):
                    self.events.append(event)
                else:
                    self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        code = self.popen.wait()
        with self._changed:
            self.events.append({"event": "exited", "t": time.time(), "code": code})
            self._changed.notify_all()

    def last_words(self, lines: int = 5) -> str:
        return "\n".join(self.stderr[-lines:]) or "nothing on stderr"

    def wait_for(self, event: str, timeout: float = 30.0, after: int = 0) -> dict:
        """The first event named `event` (from index `after` of `events`), waiting up to `timeout` s."""
        deadline = time.monotonic() + args.seconds("timeout", timeout, 0, 3600)
        with self._changed:
            while True:
                found = next((e for e in self.events[after:] if e.get("event") == event), None)
                if found is not None:
                    return found
                if event != "exited" and any(e.get("event") == "exited" for e in self.events):
                    raise ChildExited(f"{self.name} exited with code {self.popen.poll()} before {event!r}; "
                                      f"its last words:\n{self.last_words()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.name}: no {event!r} within {timeout:g} s")
                self._changed.wait(left)

    def count(self, event: str) -> int:
        return sum(1 for e in list(self.events) if e.get("event") == event)

    # ---- its life

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def exit_code(self) -> int | None:
        return self.popen.poll()

    def kill(self) -> float:
        """SIGKILL its process group, as a crash would: no goodbye, no commit, no ack.
        Returns when it happened (time.time())."""
        at = time.time()
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._reap(10)
        return at

    def stop(self, timeout: float = 15.0) -> float:
        """SIGTERM, so it can close cleanly (leave its group, deregister); SIGKILL after `timeout` s.
        Returns when it was asked (time.time())."""
        at = time.time()
        if self.alive:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reap(5)
        return at

    def _reap(self, timeout: float) -> None:
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return
        self._reaper.unwatch(self.popen.pid)

    def __enter__(self) -> "Child":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.alive:
            self.stop()

    def __repr__(self) -> str:
        state = "running" if self.alive else f"exited ({self.exit_code})"
        return f"<Child {self.name} pid {self.popen.pid} {state}, {len(self.events)} events>"
