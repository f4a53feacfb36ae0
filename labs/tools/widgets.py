"""A fault panel: sliders and toggles bound to a chaos proxy, with a live latency chart.

    from labs import chaos, widgets
    users = chaos.proxy(lab, "users")
    widgets.fault_panel(users, call=lambda: httpx.get(users.url_for() + "/users/1", timeout=2))

    ctl = widgets.FaultController(users)       # the same logic without widgets (what the tests drive)
    ctl.set_latency(50, jitter_ms=5); ctl.set_loss(0.3); ctl.set_bandwidth(100); ctl.set_down(True)
    ctl.state()                                # {"latency_ms": 50, "jitter_ms": 5, "loss": 0.3, ...}
    ctl.start_load(call, interval_s=0.1); ctl.samples(); ctl.stop_load(); ctl.reset()

The logic lives in labs.tools.fault_control (one named toxic per setting, replaced in place). Each
slider shows its range and has a text box: a value typed outside the range, or not a number, is
refused in the status line with the range (a slider's own readout would clamp it silently).

Loss is per *connection* (Toxiproxy's `toxicity` is drawn once per connection): a client that keeps
one connection alive either loses every call or none. Give the load loop a call that opens a new
connection each time (e.g. `httpx.get(...)`, not a kept-alive `httpx.Client`) to see a loss rate.

Importing this module is cheap: ipywidgets and matplotlib are imported when a panel is built.

Layer: tools.
"""
from __future__ import annotations

import base64
import io
from typing import Callable

from .fault_control import MAX_LOAD_SECONDS, MAX_SAMPLES, FaultController  # noqa: F401  (re-exported)

__all__ = ["FaultController", "FaultPanel", "fault_panel"]

REDRAW_S = 0.5             # the chart is redrawn at most twice a second


def _chart_png(samples: list[tuple[float, float | None]], window_s: float = 30.0) -> bytes:
    """The last `window_s` seconds of samples as a PNG: latency line, failed calls as red marks
    (the legend counts the failures in view; the status line counts them since the load began)."""
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
        ax.plot(bad, [0] * len(bad), "x", color="red", ms=6, label=f"failed in view ({len(bad)})")
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
        style = {"description_width": "150px"}
        layout = W.Layout(width="400px")
        # The panel's spans, inside the toxics' ranges (the controller checks those). A slider's own
        # readout clamps what is typed into it without a word (5000 -> 2000, "abc" -> 0), so the
        # sliders have none: each has a text box whose value is checked here and refused, with the
        # range, in the status line.
        self.spans = {"latency": (0, min(2000, rng["latency_ms"][1]), 5, "ms"),
                      "jitter": (0, min(500, rng["jitter_ms"][1]), 1, "ms"),
                      "loss": (0, 100, 1, "%"),
                      "bandwidth": (0, min(10_000, rng["bandwidth_kb_s"][1]), 10, "KB/s, 0 = no cap")}
        labels = {"latency": "latency", "jitter": "jitter", "loss": "loss", "bandwidth": "bandwidth"}
        self.controls, self.entries = {}, {}
        for name, (low, high, step, unit) in self.spans.items():
            self.controls[name] = W.IntSlider(0, min=low, max=high, step=step, readout=False,
                                              description=f"{labels[name]} ({low}–{high} {unit})",
                                              continuous_update=False, style=style, layout=layout)
            self.entries[name] = W.Text("0", continuous_update=False, layout=W.Layout(width="70px"))
        self.controls["down"] = W.ToggleButton(False, description="link down", icon="unlink", button_style="")
        self.controls["load"] = W.ToggleButton(
            False, description="load: start", icon="play", disabled=call is None,
            tooltip="call() in a loop" if call else "fault_panel(proxy, call=...) to enable")
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
        for name, entry in self.entries.items():
            entry.observe(lambda ch, name=name: self._typed(name, ch["new"]), "value")
        self.reset_button.on_click(lambda _b: self._apply("reset", self._reset))

        self.widget = W.VBox([
            W.HTML(f"<b>faults on {getattr(proxy, 'name', 'proxy')}</b> "
                   "(drag a slider or type a value; values outside a range are refused)"),
            *(W.HBox([c[name], self.entries[name]]) for name in self.spans),
            W.HBox([c["down"], c["load"], self.reset_button]),
            self.status, self.chart,
        ])

    def _typed(self, name: str, text: str) -> None:
        """A value typed into a setting's box: a whole number inside the panel's span moves the
        slider (which applies it); anything else is refused with the span, and the box shows the
        value in force again."""
        if self._reverting:
            return
        low, high, _, unit = self.spans[name]
        try:
            value = int(str(text).strip())
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            self.status.value = (f"refused: {name} must be a whole number from {low} to {high} "
                                 f"({unit}), got {text!r}")
            self._show(name)
            return
        if value == self.controls[name].value:
            self._show(name)
            return
        self.controls[name].value = value

    def _show(self, name: str) -> None:
        """Put the slider's value in the setting's text box (no event of ours in return)."""
        if name not in self.entries:
            return
        self._reverting = True
        try:
            self.entries[name].value = str(self.controls[name].value)
        finally:
            self._reverting = False

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
            self._show(name)
            return
        self._show(name)
        self.status.value = self._describe()

    def _reset(self) -> None:
        self.controller.reset()
        self._reverting = True
        try:
            for name in ("latency", "jitter", "loss", "bandwidth", "down"):
                self.controls[name].value = self._current(name)
        finally:
            self._reverting = False
        for name in self.entries:
            self._show(name)

    def _describe(self, summary: dict | None = None) -> str:
        s = self.controller.state()
        parts = [f"latency {s['latency_ms']} ± {s['jitter_ms']} ms", f"loss {s['loss'] * 100:g}%",
                 f"bandwidth {s['bandwidth_kb_s'] or '∞'} KB/s", "DOWN" if s["down"] else "up"]
        summary = summary or self.controller.load_summary()
        if s["load_running"] or summary["calls"]:
            parts.append(f"load: {summary['calls']} calls, {summary['errors']} failed since it started")
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
        samples, summary = self.controller.snapshot()  # one moment: the chart and status agree
        n = summary["calls"]
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
            self.status.value = self._describe(summary)
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
    `.controller` (the FaultController), `.controls` (sliders and toggles by name), `.entries`
    (each slider's text box: a value typed there outside the slider's range is refused) and `.status`."""
    panel = FaultPanel(proxy, call, interval_s)
    box = panel.widget
    box.panel, box.controller, box.controls, box.status = panel, panel.controller, panel.controls, panel.status
    box.entries = panel.entries
    return box
