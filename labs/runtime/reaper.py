"""A watchdog that stops the lab's processes when the Python process that started them dies.

atexit and kernel-shutdown hooks do not run when a kernel is killed with SIGKILL, and
children started in their own session (so that a process group can be stopped as a whole)
are not killed with their parent. So every process that starts components also starts one
small watchdog in its own session. The parent keeps the write end of a pipe and sends it
what to clean up (one JSON object per line); when the pipe closes, for whatever reason the
parent went away, the watchdog stops every registered process group, runs the registered
commands, removes the registered directories, and exits.

Nothing on PyPI does this (prctl's PDEATHSIG is Linux-only and fires when the spawning
*thread* exits), so it is written here; it uses only the standard library and psutil.

Layer: runtime.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

GRACE_SECONDS = 5.0


class Reaper:
    """The parent's side: one watchdog per Python process, started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pipe = None
        self._proc: subprocess.Popen | None = None

    def _send(self, **message) -> None:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                read_end, write_end = os.pipe()
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "labs.runtime.reaper", str(os.getpid())],
                    stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    start_new_session=True, close_fds=True,
                )
                os.close(read_end)
                self._pipe = os.fdopen(write_end, "w", buffering=1)
            self._pipe.write(json.dumps(message) + "\n")
            self._pipe.flush()

    def watch(self, pid: int) -> None:
        self._send(op="watch", pid=pid, ctime=_create_time(pid))

    def unwatch(self, pid: int) -> None:
        self._send(op="unwatch", pid=pid)

    def remove_dir_later(self, path: str) -> None:
        self._send(op="rmtree", path=path)

    def forget_dir(self, path: str) -> None:
        self._send(op="keep", path=path)

    def run_later(self, key: str, argv: list[str]) -> None:
        self._send(op="cmd", key=key, argv=argv)

    def cancel(self, key: str) -> None:
        self._send(op="uncmd", key=key)


def _create_time(pid: int) -> float | None:
    try:
        import psutil
        return psutil.Process(pid).create_time()
    except Exception:
        return None


def stop_group(pid: int, grace: float = GRACE_SECONDS) -> None:
    """SIGTERM the process group led by `pid`, then SIGKILL whatever is left after `grace` s."""
    import psutil

    def members() -> list[psutil.Process]:
        found = []
        for p in psutil.process_iter(["pid"]):
            try:
                if os.getpgid(p.pid) == pid:
                    found.append(p)
            except (ProcessLookupError, PermissionError, psutil.Error):
                pass
        return found

    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    def running(p: psutil.Process) -> bool:
        try:
            return p.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:  # gone between the listing and the look (reaped by a parent that is not us)
            return False

    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        alive = [p for p in members() if running(p)]
        if not alive:
            return
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _main(parent_pid: int) -> None:
    import psutil

    watched: dict[int, float | None] = {}
    dirs: set[str] = set()
    commands: dict[str, list[str]] = {}
    # The parent going away is the only reason to act; ignore the terminal's signals
    # (a Ctrl-C in `labs up` reaches the whole foreground group, which must not kill us first).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    for line in sys.stdin:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        op = msg.get("op")
        if op == "watch":
            watched[msg["pid"]] = msg.get("ctime")
        elif op == "unwatch":
            watched.pop(msg["pid"], None)
        elif op == "rmtree":
            dirs.add(msg["path"])
        elif op == "keep":
            dirs.discard(msg["path"])
        elif op == "cmd":
            commands[msg["key"]] = msg["argv"]
        elif op == "uncmd":
            commands.pop(msg["key"], None)
    # EOF: the parent has exited (or was killed). Stop everything it left running, in parallel.
    threads = []
    for pid, ctime in watched.items():
        try:
            if ctime is not None and abs(psutil.Process(pid).create_time() - ctime) > 0.01:
                continue  # the pid was reused by an unrelated process
        except psutil.Error:
            continue
        t = threading.Thread(target=stop_group, args=(pid,))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    for argv in commands.values():
        try:
            subprocess.run(argv, timeout=60, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except Exception:
            pass
    for path in dirs:
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    _main(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
