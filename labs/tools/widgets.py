"""A fault panel: sliders and toggles bound to a chaos proxy, with a live latency chart.

    from labs import chaos, widgets
    users = chaos.proxy(lab, "users")
    widgets.fault_panel(users, call=lambda: httpx.get(users.url_for() + "/users/1", timeout=2))

    ctl = widgets.FaultController(users)       # the same logic without widgets (what the tests drive)
    ctl.set_latency(50, jitter_ms=5); ctl.set_loss(0.3); ctl.set_bandwidth(100); ctl.set_down(True)
    ctl.state()                                # {"latency_ms": 50, "jitter_ms": 5, "loss": 0.3, ...}
    ctl.start_load(call, interval_s=0.1); ctl.samples(); ctl.stop_load(); ctl.reset()

Each setting owns one named toxic on the proxy (`panel_latency`, `panel_loss`, `panel_bandwidth`) and
replaces it in place, so moving a slider never stacks toxics. Ranges come from the chaos toxics'
own table (labs.components.chaos.toxics), so the panel and the server refuse the same values.

Loss is per *connection* (Toxiproxy's `toxicity` is drawn once per connection): a client that keeps
one connection alive either loses every call or none. Give the load loop a call that opens a new
connection each time (e.g. `httpx.get(...)`, not a kept-alive `httpx.Client`) to see a loss rate.

Importing this module is cheap: ipywidgets and matplotlib are imported when a panel is built.
"""
from __future__ import annotations

import base64
import collections
import io
import threading
import time
import weakref
from typing import Any, Callable

from ..components.chaos.toxics import TOXICS, BadToxic, check_attributes, check_toxicity
from ..clients.chaos import ChaosError

__all__ = ["FaultController", "FaultPanel", "fault_panel"]

MAX_SAMPLES = 300          # the load loop keeps the last MAX_SAMPLES (time, latency) pairs
MAX_LOAD_SECONDS = 3600    # a load loop stops by itself after at most an hour
INTERVAL_RANGE = (0.01, 60.0)
REDRAW_S = 0.5             # the chart is redrawn at most twice a second

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
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"[:200]
            self.calls += 1
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
        return list(self._samples)

    def load_summary(self) -> dict:
        loop = self._load or self._loop_box[0]
        if loop is None:
            return {"calls": 0, "errors": 0, "last_error": None}
        return {"calls": loop.calls, "errors": loop.errors, "last_error": loop.last_error}

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


def _chart_png(samples: list[tuple[float, float | None]], window_s: float = 30.0) -> bytes:
    """The last `window_s` seconds of samples as a PNG: latency line, failed calls as red marks."""
    from matplotlib.figure import Figure  # no pyplot: no global figures, no inline auto-display

    fig = Figure(figsize=(6.4, 2.4), dpi=80)
    ax = fig.add_subplot()
    end = samples[-1][0] if samples else 0.0
    shown = [(t - end, ms) for t, ms in samples if t >= end - window_s]
    ok = [(t, ms) for t, ms in shown if ms is not None]
    bad = [t for t, ms in shown if ms is None]
    if ok:
        ax.plot([t for t, _ in ok], [ms for _, ms in ok], ".-", lw=1, ms=3, color="tab:blue", label="latency")
    if bad:
        ax.plot(bad, [0] * len(bad), "x", color="red", ms=6, label=f"failed ({len(bad)})")
    ax.set_xlim(-window_s, 0)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("seconds ago")
    ax.set_ylabel("ms per call")
    if ok or bad:
        ax.legend(loc="upper left", fontsize=8)
    fig.subplots_adjust(left=0.1, right=0.98, top=0.95, bottom=0.2)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _fmt_error(exc: Exception) -> str:
    return f"refused: {exc}" if isinstance(exc, ValueError) else f"error: {type(exc).__name__}: {exc}"


def _ipywidgets():
    import ipywidgets
    return ipywidgets


class FaultPanel:
    """Built by fault_panel(); see there. `.widget` is the VBox, `.controls` the sliders/toggles."""

    def __init__(self, proxy, call: Callable[[], object] | None = None, interval_s: float = 0.1):
        W = _ipywidgets()
        self.controller = FaultController(proxy)
        self.call, self.interval_s = call, interval_s
        rng = self.controller.ranges()
        style = {"description_width": "110px"}
        layout = W.Layout(width="460px")
        # Practical slider spans inside the toxics' ranges; the controller checks the real ranges.
        self.controls = {
            "latency": W.IntSlider(0, min=0, max=min(2000, rng["latency_ms"][1]), step=5,
                                   description="latency (ms)", continuous_update=False, style=style,
                                   layout=layout),
            "jitter": W.IntSlider(0, min=0, max=min(500, rng["jitter_ms"][1]), step=1,
                                  description="jitter (ms)", continuous_update=False, style=style, layout=layout),
            "loss": W.IntSlider(0, min=0, max=100, step=1, description="loss (%)", continuous_update=False,
                                style=style, layout=layout),
            "bandwidth": W.IntSlider(0, min=0, max=min(10_000, rng["bandwidth_kb_s"][1]), step=10,
                                     description="KB/s (0 = ∞)", continuous_update=False, style=style,
                                     layout=layout),
            "down": W.ToggleButton(False, description="link down", icon="unlink", button_style=""),
            "load": W.ToggleButton(False, description="load: start", icon="play",
                                   disabled=call is None,
                                   tooltip="call() in a loop" if call else "fault_panel(proxy, call=...) to enable"),
        }
        self.reset_button = W.Button(description="reset", icon="undo")
        self.status = W.Label("ready" if call else "ready (no call given: no load loop)")
        self.chart = W.Output(layout=W.Layout(height="200px"))
        self.redraws = 0
        self._drawn_n = -1
        self._reverting = False
        self._tick_handle = None

        c = self.controls
        c["latency"].observe(lambda ch: self._apply("latency", lambda: self.controller.set_latency(
            ch["new"], c["jitter"].value)), "value")
        c["jitter"].observe(lambda ch: self._apply("jitter", lambda: self.controller.set_latency(
            c["latency"].value, ch["new"])), "value")
        c["loss"].observe(lambda ch: self._apply("loss", lambda: self.controller.set_loss(ch["new"] / 100)), "value")
        c["bandwidth"].observe(lambda ch: self._apply("bandwidth", lambda: self.controller.set_bandwidth(
            ch["new"] or None)), "value")
        c["down"].observe(lambda ch: self._apply("down", lambda: self.controller.set_down(bool(ch["new"]))), "value")
        c["load"].observe(self._on_load, "value")
        self.reset_button.on_click(lambda _b: self._apply("reset", self._reset))

        self.widget = W.VBox([
            W.HTML(f"<b>faults on {getattr(proxy, 'name', 'proxy')}</b>"),
            c["latency"], c["jitter"], c["loss"], c["bandwidth"],
            W.HBox([c["down"], c["load"], self.reset_button]),
            self.status, self.chart,
        ])

    # --- wiring -----------------------------------------------------------------------------
    def _current(self, name: str):
        s = self.controller.state()
        return {"latency": s["latency_ms"], "jitter": s["jitter_ms"], "loss": round(s["loss"] * 100),
                "bandwidth": s["bandwidth_kb_s"] or 0, "down": s["down"]}[name]

    def _apply(self, name: str, action: Callable[[], None]) -> None:
        """Run a controller action from a widget event; errors go to the status label, and the
        control goes back to the value in force (never a traceback in the notebook)."""
        if self._reverting:
            return
        try:
            action()
        except Exception as exc:  # noqa: BLE001  (a widget callback must not raise)
            self.status.value = _fmt_error(exc)
            if name in self.controls:
                self._reverting = True
                try:
                    self.controls[name].value = self._current(name)
                except Exception:  # noqa: BLE001  (e.g. the value in force lies outside a narrowed slider)
                    pass
                finally:
                    self._reverting = False
            return
        self.status.value = self._describe()

    def _reset(self) -> None:
        self.controller.reset()
        self._reverting = True
        try:
            for name in ("latency", "jitter", "loss", "bandwidth", "down"):
                self.controls[name].value = self._current(name)
        finally:
            self._reverting = False

    def _describe(self) -> str:
        s = self.controller.state()
        parts = [f"latency {s['latency_ms']} ± {s['jitter_ms']} ms", f"loss {s['loss'] * 100:g}%",
                 f"bandwidth {s['bandwidth_kb_s'] or '∞'} KB/s", "DOWN" if s["down"] else "up"]
        if s["load_running"] or self.controller.load_summary()["calls"]:
            summary = self.controller.load_summary()
            parts.append(f"load: {summary['calls']} calls, {summary['errors']} failed")
        return " | ".join(parts)

    def _on_load(self, change) -> None:
        button = self.controls["load"]
        if change["new"]:
            try:
                self.controller.start_load(self.call, self.interval_s)
            except Exception as exc:  # noqa: BLE001
                self.status.value = _fmt_error(exc)
                self._reverting = True
                button.value = False
                self._reverting = False
                return
            button.description, button.icon = "load: stop", "stop"
            self._schedule()
        elif not self._reverting:
            self.controller.stop_load()
            button.description, button.icon = "load: start", "play"
            self.refresh()

    # --- the chart --------------------------------------------------------------------------
    def _schedule(self) -> None:
        """Redraw every REDRAW_S on the kernel's asyncio loop (the main thread, between messages),
        while the load runs. Without a running loop (a plain script) call refresh() yourself."""
        import asyncio
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._tick_handle is None:
            self._tick_handle = loop.call_later(REDRAW_S, self._tick, loop)

    def _tick(self, loop) -> None:
        self._tick_handle = None
        try:
            self.refresh()
        except Exception as exc:  # noqa: BLE001  (a timer callback must not raise)
            self.status.value = _fmt_error(exc)
        if self.controller.load_running:
            self._tick_handle = loop.call_later(REDRAW_S, self._tick, loop)
        elif self.controls["load"].value:  # the loop ended by itself (its duration ran out)
            self._reverting = True
            self.controls["load"].value = False
            self._reverting = False
            self.controls["load"].description, self.controls["load"].icon = "load: start", "play"

    def refresh(self) -> bool:
        """Redraw the chart and the status if new samples arrived; True if it redrew."""
        samples = self.controller.samples()
        n = self.controller.load_summary()["calls"]
        if n == self._drawn_n:
            return False
        self._drawn_n = n
        png = _chart_png(samples)
        # Replace the Output's outputs in one trait change: no `with chart:` capture, which routes
        # by the parent message's id and misfires outside a running cell (as in a timer callback).
        self.chart.outputs = ({"output_type": "display_data", "metadata": {},
                               "data": {"image/png": base64.b64encode(png).decode("ascii"),
                                        "text/plain": f"<latency chart: {len(samples)} samples>"}},)
        self.last_png = png
        self.redraws += 1
        if not self.status.value.startswith(("refused", "error")):
            self.status.value = self._describe()
        return True

    def close(self) -> None:
        if self._tick_handle is not None:
            self._tick_handle.cancel()
            self._tick_handle = None
        self.controller.close()
        self.widget.close()


def fault_panel(proxy, call: Callable[[], object] | None = None, interval_s: float = 0.1):
    """An ipywidgets VBox: sliders for latency, jitter, loss and bandwidth, a down toggle, a load
    start/stop toggle, reset, a status line and a live latency chart, bound to `proxy` (chaos.proxy).

    `call` is what the load loop runs (give it a timeout; a new connection per call shows loss).
    The box carries `.panel` (a FaultPanel: `.refresh()`, `.close()` stops the load loop too),
    `.controller` (the FaultController), `.controls` (sliders and toggles by name) and `.status`."""
    panel = FaultPanel(proxy, call, interval_s)
    box = panel.widget
    box.panel, box.controller, box.controls, box.status = panel, panel.controller, panel.controls, panel.status
    return box
