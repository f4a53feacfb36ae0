"""Waiting for something to become true, two ways with names that say what they do on a timeout.

Layer: runtime.

    from labs.runtime.waiting import poll_until, wait_ready
    ok = poll_until(lambda: len(worker.received) >= 10, timeout=5)   # True, or False after 5 s
    wait_ready(lambda: probe(endpoint), timeout=30)                    # returns, or raises TimeoutError

`poll_until` asks a yes/no question and hands the answer back: the caller decides what a "no" means
(a lesson often wants to *show* that something did not happen). `wait_ready` calls a probe that raises
until the thing is ready (a connection, a health check) and raises TimeoutError with the probe's last
error when it never is: a start that cannot go on.
"""
from __future__ import annotations

import time
from typing import Callable

from . import args


def poll_until(condition: Callable[[], bool], timeout: float = 10.0, interval: float = 0.01) -> bool:
    """Call `condition` every `interval` s until it is true (True) or `timeout` s have passed (False)."""
    deadline = time.monotonic() + args.seconds("timeout", timeout, 0, 3600)
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def wait_ready(probe: Callable[[], None], timeout: float, interval: float = 0.1,
               giving_up: Callable[[], str | None] = lambda: None) -> None:
    """Call `probe` until it returns without raising. `giving_up` returns a reason to stop early
    (a process that exited); TimeoutError carries that reason, or the probe's last error."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            probe()
            return
        except Exception as exc:  # any failure of the probe means "not ready yet"
            last = exc
        reason = giving_up()
        if reason:
            raise TimeoutError(reason)
        if time.monotonic() >= deadline:
            raise TimeoutError(f"not ready after {timeout:.0f} s (last probe error: {last})")
        time.sleep(interval)
