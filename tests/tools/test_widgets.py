"""labs.widgets: the fault panel's controller and its widgets, driven without a browser, through a
chaos proxy in front of a tiny TCP echo server."""
import asyncio
import gc
import socket
import time
import uuid
import weakref

import pytest

from labs import chaos, widgets
from labs.components.chaos.toxics import TOXICS


# `echo` (a TCP echo server) and `api` (a chaos server) come from conftest.py


@pytest.fixture
def proxy(api, echo):
    client = chaos.ToxiproxyClient(api)
    p = client.create(f"widgets-{uuid.uuid4().hex[:8]}", f"127.0.0.1:{echo.port}")
    yield p
    try:
        client.delete(p.name)
    except chaos.ChaosError:
        pass
    client.close()


@pytest.fixture
def ctl(proxy):
    c = widgets.FaultController(proxy)
    yield c
    c.close()


def ping(p, timeout=2.0):
    """One call through the proxy on a new connection (so per-connection loss shows); raises on failure."""
    with socket.create_connection(("127.0.0.1", p.port), timeout=timeout) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"ping")
        got = b""
        while len(got) < 4:
            chunk = s.recv(4 - len(got))
            if not chunk:
                raise ConnectionError("closed before the answer")
            got += chunk
    if got != b"ping":
        raise ConnectionError(f"wrong answer {got!r}")


def fastest_ms(p, n=7):
    """The fastest of n calls: a busy machine only adds time to a call, never takes any away, so the
    fastest is what the path costs (medians on CI's 2 busy cores moved by 5-15 ms)."""
    times = []
    for _ in range(n):
        t = time.perf_counter()
        ping(p)
        times.append((time.perf_counter() - t) * 1e3)
    return min(times)


def failures(p, n=10):
    failed = 0
    for _ in range(n):
        try:
            ping(p, timeout=1.0)
        except OSError:
            failed += 1
    return failed


def test_latency_moves_the_measured_latency_by_the_setting(ctl, proxy):
    base = fastest_ms(proxy)
    ctl.set_latency(50)
    with_latency = fastest_ms(proxy)
    assert with_latency >= 50, (base, with_latency)  # never early
    assert 40 <= with_latency - base <= 60, (base, with_latency)
    ctl.set_latency(0)
    assert proxy.toxics() == []
    assert fastest_ms(proxy) < base + 10


def test_loss_one_fails_every_call_and_zero_none(ctl, proxy):
    ctl.set_loss(1.0)
    assert [t["type"] for t in proxy.toxics()] == ["reset_peer"]
    assert failures(proxy) == 10
    ctl.set_loss(0)
    assert proxy.toxics() == [] and failures(proxy) == 0
    assert ctl.state()["loss"] == 0


def test_down_makes_calls_fail_and_up_restores(ctl, proxy):
    ctl.set_down(True)
    assert ctl.state()["down"] is True and failures(proxy, 3) == 3
    ctl.set_down(False)
    assert failures(proxy, 3) == 0


def test_bandwidth_sets_one_toxic_and_none_removes_it(ctl, proxy):
    ctl.set_bandwidth(100)
    assert [(t["type"], t["attributes"]["rate"]) for t in proxy.toxics()] == [("bandwidth", 100)]
    ctl.set_bandwidth(50)
    assert [(t["type"], t["attributes"]["rate"]) for t in proxy.toxics()] == [("bandwidth", 50)]
    ctl.set_bandwidth(None)
    assert proxy.toxics() == [] and ctl.state()["bandwidth_kb_s"] is None


LAT_HI = TOXICS["latency"]["latency"][2]
RATE_LO, RATE_HI = TOXICS["bandwidth"]["rate"][1:3]


@pytest.mark.parametrize("method, args, range_text", [
    ("set_latency", (-1,), f"0..{LAT_HI} ms"),
    ("set_latency", (LAT_HI + 1,), f"0..{LAT_HI} ms"),
    ("set_latency", (10, -5), "0..60000 ms"),
    ("set_latency", ("fast",), "0..60000 ms"),
    ("set_loss", (1.5,), "0..1"),
    ("set_loss", (-0.1,), "0..1"),
    ("set_bandwidth", (0,), f"{RATE_LO}..{RATE_HI} KB/s"),
    ("set_bandwidth", (RATE_HI + 1,), f"{RATE_LO}..{RATE_HI} KB/s"),
    ("set_down", ("yes",), "True or False"),
])
def test_out_of_range_values_raise_a_value_error_naming_the_range(ctl, proxy, method, args, range_text):
    with pytest.raises(ValueError) as info:
        getattr(ctl, method)(*args)
    assert range_text in str(info.value)
    assert proxy.toxics() == []


def test_replacing_a_value_does_not_stack_toxics(ctl, proxy):
    for ms in (10, 20, 30):
        ctl.set_latency(ms, jitter_ms=2)
    for f in (0.1, 0.2):
        ctl.set_loss(f)
    for rate in (10, 20):
        ctl.set_bandwidth(rate)
    toxics = {t["type"]: t for t in proxy.toxics()}
    assert len(proxy.toxics()) == 3 and set(toxics) == {"latency", "reset_peer", "bandwidth"}
    assert toxics["latency"]["attributes"] == {"latency": 30, "jitter": 2}
    assert toxics["reset_peer"]["toxicity"] == 0.2 and toxics["bandwidth"]["attributes"]["rate"] == 20
    assert ctl.state() == {"latency_ms": 30, "jitter_ms": 2, "loss": 0.2, "bandwidth_kb_s": 20, "down": False,
                           "load_running": False}
    ctl.set_down(True)
    ctl.reset()
    assert proxy.toxics() == [] and proxy.enabled
    assert ctl.state()["latency_ms"] == 0 and ctl.state()["down"] is False


def test_a_second_controller_replaces_the_first_ones_toxic(ctl, proxy):
    ctl.set_latency(10)
    other = widgets.FaultController(proxy)
    other.set_latency(20)
    assert [t["attributes"]["latency"] for t in proxy.toxics()] == [20]


def test_the_load_loop_collects_samples_marks_failures_and_stops(ctl, proxy):
    ctl.start_load(lambda: ping(proxy, timeout=1.0), interval_s=0.02)
    time.sleep(0.3)
    ctl.set_down(True)
    time.sleep(0.2)
    ctl.set_down(False)
    time.sleep(0.2)
    ctl.stop_load()
    samples = ctl.samples()
    assert not ctl.load_running
    ok = [ms for _, ms in samples if ms is not None]
    assert len(ok) >= 5 and any(ms is None for _, ms in samples)
    assert all(0 <= ms < 500 for ms in ok)
    assert [t for t, _ in samples] == sorted(t for t, _ in samples)
    time.sleep(0.1)
    assert len(ctl.samples()) == len(samples)  # stopped means no more calls
    assert ctl.load_summary()["errors"] >= 1 and ctl.load_summary()["last_error"]


def test_the_ring_buffer_is_bounded_and_the_duration_too(ctl):
    ctl.start_load(lambda: None, interval_s=0.01, duration_s=0.5)
    deadline = time.monotonic() + 5
    while ctl.load_running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not ctl.load_running  # ended by itself
    for _ in range(widgets.MAX_SAMPLES + 50):
        ctl._samples.append((0.0, 1.0))
    assert len(ctl.samples()) == widgets.MAX_SAMPLES


@pytest.mark.parametrize("kwargs, text", [({"call": 42}, "function"), ({"interval_s": 0}, "0.01..60 s"),
                                          ({"duration_s": 10**6}, "0..3600 s")])
def test_load_loop_arguments_are_checked(ctl, kwargs, text):
    args = {"call": lambda: None} | kwargs
    with pytest.raises(ValueError, match=text.replace(".", r"\.")):
        ctl.start_load(**args)


def test_the_load_loop_stops_when_the_controller_is_garbage_collected(proxy):
    c = widgets.FaultController(proxy)
    c.start_load(lambda: None, interval_s=0.01)
    thread = c._load.thread
    ref = weakref.ref(c)
    del c
    gc.collect()
    assert ref() is None
    thread.join(2)
    assert not thread.is_alive()


def test_the_panel_builds_and_its_controls_drive_the_controller(proxy):
    import ipywidgets
    box = widgets.fault_panel(proxy, call=lambda: ping(proxy, timeout=1.0))
    try:
        assert isinstance(box, ipywidgets.VBox)
        c, ctl = box.controls, box.controller
        c["latency"].value = 100
        c["jitter"].value = 5
        c["loss"].value = 25
        c["bandwidth"].value = 200
        assert ctl.state() | {"load_running": False} == {
            "latency_ms": 100, "jitter_ms": 5, "loss": 0.25, "bandwidth_kb_s": 200, "down": False,
            "load_running": False}
        assert len(proxy.toxics()) == 3 and "latency 100 ± 5 ms" in box.status.value
        c["bandwidth"].value = 0
        assert ctl.state()["bandwidth_kb_s"] is None
        c["down"].value = True
        assert not proxy.enabled and "DOWN" in box.status.value
        box.panel.reset_button.click()
        assert proxy.toxics() == [] and proxy.enabled
        assert (c["latency"].value, c["loss"].value, c["down"].value) == (0, 0, False)
    finally:
        box.panel.close()


def test_an_invalid_value_reaches_the_status_label_not_a_traceback(proxy):
    box = widgets.fault_panel(proxy)
    try:
        latency = box.controls["latency"]
        latency.value = 100
        latency.max = LAT_HI * 2  # a widened slider (or a text box) lets an invalid value through
        latency.value = LAT_HI + 1
        assert box.status.value.startswith("refused:") and f"0..{LAT_HI} ms" in box.status.value
        assert latency.value == 100 and box.controller.state()["latency_ms"] == 100  # back to the value in force
        proxy.delete()  # the chaos server refuses: shown as text too
        box.controls["loss"].value = 50
        assert box.status.value.startswith("error: ChaosError") and box.controls["loss"].value == 0
        assert box.controls["load"].disabled  # no call given
    finally:
        box.panel.close()


def test_the_chart_redraws_from_the_event_loop_while_the_load_runs(proxy):
    widgets._chart_png([])  # import matplotlib first: its ~0.7 s import would delay the first tick

    async def run():
        box = widgets.fault_panel(proxy, call=lambda: ping(proxy, timeout=1.0), interval_s=0.02)
        try:
            box.controls["load"].value = True
            assert box.controller.load_running and box.controls["load"].description == "load: stop"
            await asyncio.sleep(1.7)
            redraws = box.panel.redraws
            assert 2 <= redraws <= 4  # every REDRAW_S (0.5 s) plus the draw itself, not per sample (~80)
            box.controls["load"].value = False
            assert not box.controller.load_running
            assert box.panel.last_png.startswith(b"\x89PNG")
            assert box.panel.chart.outputs[0]["data"]["image/png"]
            assert "load:" in box.status.value and "calls" in box.status.value
        finally:
            box.panel.close()

    asyncio.run(run())


def test_the_chart_marks_failures_in_red():
    png_ok = widgets._chart_png([(0.1 * i, 1.0) for i in range(20)])
    png_bad = widgets._chart_png([(0.1 * i, None if i % 2 else 1.0) for i in range(20)])
    assert png_ok.startswith(b"\x89PNG") and png_ok != png_bad
    import io

    import matplotlib.image
    img = matplotlib.image.imread(io.BytesIO(png_bad))
    red = ((img[..., 0] > 0.9) & (img[..., 1] < 0.2) & (img[..., 2] < 0.2)).sum()
    assert red > 20


@pytest.mark.parametrize("typed", ["5000", "-5", "abc", "12.5", ""])
def test_a_typed_value_outside_the_range_is_refused_with_the_range(proxy, typed):
    box = widgets.fault_panel(proxy)
    try:
        box.entries["latency"].value = "100"
        assert box.controls["latency"].value == 100 and box.controller.state()["latency_ms"] == 100
        box.entries["latency"].value = typed
        assert box.status.value == f"refused: latency must be a whole number from 0 to 2000 (ms), got {typed!r}"
        assert box.entries["latency"].value == "100"  # the box shows the value in force again
        assert box.controls["latency"].value == 100 and box.controller.state()["latency_ms"] == 100
        assert "0–2000 ms" in box.controls["latency"].description  # the range is shown, not discovered
        assert not box.controls["latency"].readout  # the slider's own readout would clamp silently
    finally:
        box.panel.close()


def test_a_slider_move_shows_in_its_text_box_and_loss_refuses_150(proxy):
    box = widgets.fault_panel(proxy)
    try:
        box.controls["jitter"].value = 7
        assert box.entries["jitter"].value == "7"
        box.entries["loss"].value = "150"
        assert "loss must be a whole number from 0 to 100 (%), got '150'" in box.status.value
        assert box.controller.state()["loss"] == 0 and box.entries["loss"].value == "0"
        box.entries["loss"].value = "30"
        assert box.controller.state()["loss"] == 0.3
        box.panel.reset_button.click()
        assert box.entries["loss"].value == "0"
    finally:
        box.panel.close()


def test_the_chart_and_the_status_line_count_the_same_failures(proxy):
    box = widgets.fault_panel(proxy, call=lambda: ping(proxy, timeout=1.0), interval_s=0.01)
    try:
        box.controller.set_loss(0.5)
        box.controller.start_load(box.panel.call, 0.01)
        time.sleep(1.0)
        box.controller.stop_load()
        box.panel.refresh()
        samples, summary = box.controller.snapshot()
        failed_in_view = sum(ms is None for _, ms in samples)
        assert summary["errors"] >= 5 and failed_in_view == summary["errors"]
        assert f"{summary['errors']} failed since it started" in box.status.value
    finally:
        box.panel.close()
