"""Free loopback ports. Every listener of the lab binds 127.0.0.1 only."""
from __future__ import annotations

import socket
import threading

HOST = "127.0.0.1"
_handed_out: set[int] = set()
_lock = threading.Lock()


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 now and not yet handed out by this process.

    The kernel picks it (bind to port 0), so two processes asking at once get different
    ports; the set guards against this process asking twice before either port is bound.
    """
    with _lock:
        for _ in range(50):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((HOST, 0))
                port = s.getsockname()[1]
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise OSError("could not find a free port on 127.0.0.1")


def is_listening(port: int, host: str = HOST, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
