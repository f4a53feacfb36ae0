"""The fault panel's logic without widgets: one chaos proxy's latency, loss, bandwidth and up/down,
and a load loop that calls a function and keeps (time, latency) samples.

    from labs.tools.fault_control import FaultController
    ctl = FaultController(chaos.proxy(lab, "users"))
    ctl.set_latency(50, jitter_ms=5); ctl.set_loss(0.3); ctl.set_bandwidth(100); ctl.set_down(True)
    ctl.state()                                # {"latency_ms": 50, "jitter_ms": 5, "loss": 0.3, ...}
    ctl.start_load(call, interval_s=0.1); ctl.snapshot(); ctl.stop_load(); ctl.reset()

Each setting owns one named toxic on the proxy (`panel_latency`, `panel_loss`, `panel_bandwidth`) and
replaces it in place, so moving a slider never stacks toxics. Ranges come from the chaos toxics'
own table (labs.components.chaos.toxics), so the panel and the server refuse the same values.

Layer: tools (labs.tools.widgets draws the panel on top of this; the tests drive it directly).
"""
from __future__ import annotations

import collections
import threading
import time
import weakref
from typing import Any, Callable

from ..components.chaos.toxics import TOXICS, BadToxic, check_attributes, check_toxicity
from ..clients.chaos import ChaosError

__all__ = ["FaultController"]

MAX_SAMPLES = 300          # the load loop keeps the last MAX_SAMPLES (time, latency) pairs
MAX_LOAD_SECONDS = 3600    # a load loop stops by itself after at most an hour
INTERVAL_RANGE = (0.01, 60.0)

NAMES = {"latency": "panel_latency", "loss": "panel_loss", "bandwidth": "panel_bandwidth"}


def _checked(type_: str, **attributes: Any) -> dict:
    """The toxic's attributes validated by the chaos toxics' table; ValueError naming the range."""
    try:
        return check_attributes(type_, attributes)
    except BadToxic as exc:
        raise ValueError(str(exc)) from None


class _LoadLoop:
    """Calls `call()` every `interval_s` in a daemon thread and keeps (t, latency_ms | None).

    Holds no reference to the controller, so a forgotten controller can be garbage-collected
    (its finalizer stops this loop). Never prints: errors are recorded, not reported."""

    def __init__(self, call: Callable[[], object], interval_s: float, duration_s: float, t0: float,
                 samples: collections.deque):
        self.call, self.interval_s, self.duration_s, self.t0 = call, interval_s, duration_s, t0
        self.samples = samples
        self.lock = threading.Lock()  # calls, errors and samples change together: one snapshot
        self.stop_event = threading.Event()
        self.calls = self.errors = 0
        self.last_error: str | None = None
        self.thread = threading.Thread(target=self._run, name="labs-fault-panel-load", daemon=True)

    def _run(self) -> None:
        clock = time.perf_counter
        deadline = time.monotonic() + self.duration_s
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            started = clock()
            try:
                self.call()
                latency: float | None = (clock() - started) * 1e3
            except Exception as exc:  # noqa: BLE001  (every failure is a data point, never a crash)
                latency = None
                self.last_error = f"{type(exc).__name__}: {exc}"[:200]
            with self.lock:
                self.calls += 1
                self.errors += latency is None
                self.samples.append((time.monotonic() - self.t0, latency))
            self.stop_event.wait(self.interval_s)

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_event.set()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout)

    @property
    def running(self) -> bool:
        return self.thread.is_alive() and not self.stop_event.is_set()


class FaultController:
    """The fault panel's logic, no widgets: one proxy's latency, loss, bandwidth and up/down."""

    def __init__(self, proxy):
        self.proxy = proxy
        self._state = {"latency_ms": 0, "jitter_ms": 0, "loss": 0.0, "bandwidth_kb_s": None, "down": False}
        self._present: set[str] = set()   # which of our named toxics exist on the proxy
        self._t0 = time.monotonic()
        self._samples: collections.deque = collections.deque(maxlen=MAX_SAMPLES)
        self._load: _LoadLoop | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._loop_box: list = [None]  # the running loop, shared with the finalizer (not the controller)
        weakref.finalize(self, FaultController._stop_loop, self._loop_box)

    # --- settings ---------------------------------------------------------------------------
    def _put(self, kind: str, type_: str, attributes: dict, toxicity: float = 1.0) -> None:
        """Create or replace our toxic of `kind` (update in place: no window without it)."""
        name = NAMES[kind]
        if name in self._present:
            try:
                self.proxy.update_toxic(name, toxicity=toxicity, **attributes)
                return
            except ChaosError as exc:
                if exc.status != 404:
                    raise
        try:
            self.proxy.add(type_, toxicity=toxicity, name=name, **attributes)
        except ChaosError as exc:
            if exc.status != 409:  # it exists already (e.g. a second controller): replace it
                raise
            self.proxy.update_toxic(name, toxicity=toxicity, **attributes)
        self._present.add(name)

    def _drop(self, kind: str) -> None:
        name = NAMES[kind]
        try:
            self.proxy.remove(name)
        except ChaosError as exc:
            if exc.status != 404:
                raise
        self._present.discard(name)

    def set_latency(self, ms: float, jitter_ms: float = 0) -> None:
        """Delay each chunk from the server by `ms` +/- `jitter_ms`; 0 and 0 remove the delay."""
        attrs = _checked("latency", latency=ms, jitter=jitter_ms)
        if attrs["latency"] == 0 and attrs["jitter"] == 0:
            self._drop("latency")
        else:
            self._put("latency", "latency", attrs)
        self._state.update(latency_ms=attrs["latency"], jitter_ms=attrs["jitter"])

    def set_loss(self, fraction: float) -> None:
        """Reset this share (0..1) of new connections; 0 removes the loss.

        A `reset_peer` toxic (timeout 0), not `timeout`: a reset fails the call at once, so the
        learner sees the error and the load loop keeps sampling; a `timeout` toxic would hold each
        lost call until the client's own timeout and stall the loop and the chart meanwhile."""
        try:
            fraction = check_toxicity(fraction)
        except BadToxic as exc:
            raise ValueError(f"loss: {exc}") from None
        if fraction == 0:
            self._drop("loss")
        else:
            self._put("loss", "reset_peer", _checked("reset_peer", timeout=0), toxicity=fraction)
        self._state["loss"] = fraction

    def set_bandwidth(self, kb_per_s: float | None) -> None:
        """Limit the server's answers to `kb_per_s` KB/s; None (or 0 from the panel) is unlimited."""
        if kb_per_s is None:
            self._drop("bandwidth")
            self._state["bandwidth_kb_s"] = None
            return
        attrs = _checked("bandwidth", rate=kb_per_s)
        self._put("bandwidth", "bandwidth", attrs)
        self._state["bandwidth_kb_s"] = attrs["rate"]

    def set_down(self, down: bool) -> None:
        """Take the link down (connections refused, open ones cut) or bring it back up."""
        if not isinstance(down, bool):
            raise ValueError(f"down must be True or False, got {down!r}")
        if down:
            self.proxy.disable()
        else:
            self.proxy.enable()
        self._state["down"] = down

    def reset(self) -> None:
        """A healthy link again: every toxic of the proxy removed (also ones added outside the panel),
        the proxy enabled."""
        self.proxy.clear()
        self.proxy.enable()
        self._present.clear()
        self._state.update(latency_ms=0, jitter_ms=0, loss=0.0, bandwidth_kb_s=None, down=False)

    def state(self) -> dict:
        """The current settings, plus whether the load loop runs."""
        return dict(self._state, load_running=self.load_running)

    @staticmethod
    def ranges() -> dict[str, tuple]:
        """(low, high, unit) of each setting, from the chaos toxics' table."""
        lat, rate = TOXICS["latency"], TOXICS["bandwidth"]["rate"]
        return {"latency_ms": lat["latency"][1:], "jitter_ms": lat["jitter"][1:], "loss": (0, 1, "fraction"),
                "bandwidth_kb_s": rate[1:]}

    # --- load loop --------------------------------------------------------------------------
    def start_load(self, call: Callable[[], object], interval_s: float = 0.1,
                   duration_s: float = 600) -> None:
        """Run `call()` every `interval_s` s in a daemon thread for at most `duration_s` s, recording
        (t, latency_ms or None on an exception) for the last MAX_SAMPLES calls. Give `call` its own
        timeout: a hanging call cannot be interrupted, only waited for."""
        if not callable(call):
            raise ValueError(f"call must be a function taking no arguments, got {call!r}")
        lo, hi = INTERVAL_RANGE
        if isinstance(interval_s, bool) or not isinstance(interval_s, (int, float)) or not lo <= interval_s <= hi:
            raise ValueError(f"interval_s must be in {lo:g}..{hi:g} s, got {interval_s!r}")
        if (isinstance(duration_s, bool) or not isinstance(duration_s, (int, float))
                or not 0 < duration_s <= MAX_LOAD_SECONDS):
            raise ValueError(f"duration_s must be in 0..{MAX_LOAD_SECONDS} s (above 0), got {duration_s!r}")
        if self._closed:
            raise ValueError("this controller is closed")
        with self._lock:
            self.stop_load()
            loop = _LoadLoop(call, float(interval_s), float(duration_s), self._t0, self._samples)
            self._load = self._loop_box[0] = loop
            loop.thread.start()

    def stop_load(self) -> None:
        loop, self._load = self._load, None
        if loop is not None:
            loop.stop()

    @property
    def load_running(self) -> bool:
        return self._load is not None and self._load.running

    def samples(self) -> list[tuple[float, float | None]]:
        """(seconds since the controller was made, latency ms or None for a failed call), oldest first."""
        return self.snapshot()[0]

    def load_summary(self) -> dict:
        return self.snapshot()[1]

    def snapshot(self) -> tuple[list[tuple[float, float | None]], dict]:
        """The samples and the load loop's counts taken at one moment, so a chart and a status line
        drawn from them agree (counts read a moment later would include calls the chart lacks)."""
        loop = self._load or self._loop_box[0]
        if loop is None:
            return list(self._samples), {"calls": 0, "errors": 0, "last_error": None}
        with loop.lock:
            return list(self._samples), {"calls": loop.calls, "errors": loop.errors,
                                         "last_error": loop.last_error}

    @staticmethod
    def _stop_loop(box: list) -> None:
        if box[0] is not None:
            box[0].stop_event.set()

    def close(self) -> None:
        """Stop the load loop (the proxy's faults stay as they are; reset() removes them)."""
        self._closed = True
        self.stop_load()

    def __repr__(self) -> str:
        return f"<FaultController {getattr(self.proxy, 'name', '?')}: {self.state()}>"
