"""Free loopback ports. Every listener of the lab binds 127.0.0.1 only.

Layer: runtime.
"""
from __future__ import annotations

import atexit
import os
import random
import socket
import threading

from .paths import state_root

HOST = "127.0.0.1"
_handed_out: set[int] = set()
_lock = threading.Lock()
_swept = False


def _holder_alive(path) -> bool:
    try:
        holder = int(path.read_text() or 0)
        os.kill(holder, 0)
    except (ValueError, OSError) as exc:
        return isinstance(exc, PermissionError)  # someone else's live process (a shared temp dir)
    return True


def _sweep(folder) -> None:
    """Once per process: drop the reservations of processes that have gone (SIGKILLed kernels leave
    theirs; they used to pile up by the hundred)."""
    global _swept
    if _swept:
        return
    _swept = True
    for path in folder.iterdir():
        if not _holder_alive(path):
            path.unlink(missing_ok=True)
    atexit.register(_release)


def _release() -> None:
    """At exit, this process's own reservations go (after SIGKILL, the next process's sweep takes them)."""
    folder = state_root() / "ports"
    for port in list(_handed_out):
        path = folder / str(port)
        try:
            if path.read_text() == str(os.getpid()):
                path.unlink()
        except OSError:
            pass


def _ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = map(int, f.read().split())
        return low, high
    except (OSError, ValueError):
        return 49152, 65535  # macOS and the IANA default


def _candidate_range() -> tuple[int, int]:
    low, high = _ephemeral_range()
    return (20000, low - 1) if low > 21000 else (high + 1, 65535)


def _reserve(port: int) -> bool:
    """Claim `port` for this process in a per-user file, unless a live process holds it."""
    folder = state_root() / "ports"
    folder.mkdir(exist_ok=True)
    _sweep(folder)
    path = folder / str(port)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        try:
            holder = int(path.read_text() or 0)
            os.kill(holder, 0)
            if holder != os.getpid():
                return False
        except (ValueError, ProcessLookupError, PermissionError, OSError):
            pass  # stale: its owner has gone
        path.write_text(str(os.getpid()))
        return True
    with os.fdopen(fd, "w") as f:
        f.write(str(os.getpid()))
    return True


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, reserved for this process.

    Chosen outside the kernel's ephemeral range: RabbitMQ binds its port seconds after we pick
    it, and meanwhile any outgoing connection could take an ephemeral port as its source port.
    The reservation file keeps two labs of the same user from picking the same port meanwhile.
    """
    low, high = _candidate_range()
    with _lock:
        for _ in range(200):
            port = random.randint(low, high)
            if port in _handed_out:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind((HOST, port))
                except OSError:
                    continue
            if _reserve(port):
                _handed_out.add(port)
                return port
    raise OSError(f"could not find a free port on {HOST} between {low} and {high}")


def is_listening(port: int, host: str = HOST, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
