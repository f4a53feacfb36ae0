"""The runtime API on real processes: reuse, kill, restart, failed starts, bad input."""
import os
import sys
import time
from pathlib import Path

import pytest

import labs
from labs.runtime import ComponentSpec, LabError, StartError, UnknownComponent, is_listening
from labs.runtime.component import _registry
from labs.runtime.process import ProcessSpec


def test_unknown_component_names_the_valid_choices():
    with pytest.raises(UnknownComponent) as err:
        labs.start("nope")
    for name in ("rabbitmq", "redis", "kafka"):
        assert name in str(err.value)
    with pytest.raises(UnknownComponent):
        labs.start(42)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"backend": "podman"}, "local, docker"),
    ({"options": {"rabbitmq": {"management": True}}}, "not being started"),
    ({"options": {"redis": {"colour": "red"}}}, "no option 'colour'"),
])
def test_bad_arguments_are_refused_with_the_allowed_values(kwargs, fragment):
    with pytest.raises(LabError, match=fragment):
        labs.start("redis", **kwargs)


def test_logs_rejects_out_of_range_line_counts():
    lab = labs.start("redis")
    for bad in (-1, 1.5, "10", 10**6):
        with pytest.raises(ValueError, match="0 to 100000"):
            lab.logs("redis", lines=bad)
    with pytest.raises(LabError, match="not part of this lab"):
        lab.logs("kafka")


def test_start_again_reuses_running_components():
    first = labs.start("redis", "kafka")
    pids = {n: first.component(n).pids() for n in first.names}
    started = time.monotonic()
    second = labs.start("redis", "kafka")
    assert time.monotonic() - started < 0.5
    assert {n: second.component(n).pids() for n in second.names} == pids
    assert second.endpoint("redis") == first.endpoint("redis")


def test_kill_then_start_again_comes_back_on_the_same_address():
    lab = labs.start("redis")
    url = lab.endpoint("redis")["url"]
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    lab.kill("redis")
    assert not is_listening(port)
    assert "redis=killed" in repr(lab)
    lab = labs.start("redis")
    assert lab.endpoint("redis")["url"] == url and is_listening(port)


def test_restart_keeps_the_address_and_changes_the_process():
    lab = labs.start("kafka")
    before, pids = lab.endpoint("kafka"), lab.component("kafka").pids()
    lab.restart("kafka")
    assert lab.endpoint("kafka") == before
    assert lab.component("kafka").pids() != pids


def test_wait_false_returns_at_once_and_endpoint_waits():
    lab = labs.start("rabbitmq", wait=False)
    try:
        lab.endpoint("rabbitmq")  # blocks until ready
        assert lab.ready
    finally:
        pass  # left running for the other tests in this session (reused)


class _Crashing(ComponentSpec):
    """A component whose process prints a reason and exits, like a broker with a bad config."""
    name = "crashing"
    port_names = ("main",)
    start_timeout = 10

    def processes(self, data_dir: Path, ports, options):
        code = "import sys; print('fatal: config file has an error on line 3'); sys.exit(3)"
        return [ProcessSpec([sys.executable, "-c", code])]

    def endpoint(self, ports, options):
        return {"main": f"127.0.0.1:{ports['main']}"}

    def probe(self, endpoint, options):
        raise ConnectionError("nothing listens")


def test_a_failed_start_names_the_component_and_quotes_its_log():
    _registry["crashing"] = _Crashing()
    try:
        started = time.monotonic()
        with pytest.raises(StartError) as err:
            labs.start("crashing")
        assert time.monotonic() - started < 5, "an exited process must fail the start at once"
        text = str(err.value)
        assert text.startswith("crashing failed to start")
        assert "exited with code 3" in text and "config file has an error on line 3" in text
    finally:
        del _registry["crashing"]


def test_a_lab_as_context_manager_stops_its_components():
    with labs.start("redis") as lab:
        port = int(lab.endpoint("redis")["url"].rsplit(":", 1)[1].split("/")[0])
        data_dir = lab.component("redis").data_dir
        assert is_listening(port) and data_dir.exists()
    assert not is_listening(port)
    assert not data_dir.exists()


def test_external_kafka_is_used_as_given(monkeypatch):
    lab = labs.start("kafka")
    bootstrap = lab.endpoint("kafka")["bootstrap"]
    monkeypatch.setenv("LABS_KAFKA_BOOTSTRAP", bootstrap)
    ext = labs.start("kafka", backend="local", options={})
    # the session already runs a local kafka: reuse wins; a fresh component honours the variable
    from labs.runtime.component import LocalComponent
    comp = LocalComponent(labs.runtime.get_spec("kafka"), {}, reaper=None)
    comp.start()
    assert comp.endpoint == {"bootstrap": bootstrap} and comp.pids() == []
    assert ext.endpoint("kafka")["bootstrap"]


def test_free_ports_avoid_the_ephemeral_range_and_are_reserved_per_process():
    from labs.runtime import free_port
    from labs.runtime.paths import state_root
    from labs.runtime.ports import _ephemeral_range
    low, high = _ephemeral_range()
    ports = [free_port() for _ in range(20)]
    assert len(set(ports)) == 20
    assert not any(low <= p <= high for p in ports)
    for p in ports:
        assert (state_root() / "ports" / str(p)).read_text() == str(os.getpid())
