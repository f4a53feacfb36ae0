"""labs.tracing, the package: every public name is reached from it, and importing it stays light."""
import subprocess
import sys

import pytest

from labs import tracing
from labs.tracing import core, messaging


def _modules_loaded_by(statement: str) -> set[str]:
    """The top-level modules a fresh interpreter has loaded after `statement` (this one has them all)."""
    code = f"{statement}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


@pytest.mark.parametrize("statement", ["import labs.tracing", "from labs import tracing", "import labs"])
def test_importing_tracing_loads_neither_grpc_nor_httpx(statement):
    loaded = _modules_loaded_by(statement)
    assert "labs" in loaded  # the probe itself works
    assert not {"grpc", "httpx"} & loaded, sorted({"grpc", "httpx"} & loaded)


def test_the_probe_sees_a_transport_once_its_names_are_used():
    """The check above can fail: touching a gRPC name through the package does load grpc."""
    loaded = _modules_loaded_by("from labs import tracing\ntracing.traced_grpc_channel")
    assert "grpc" in loaded and "httpx" not in loaded
    loaded = _modules_loaded_by("from labs import tracing\ntracing.instrument_fastapi")
    assert "httpx" in loaded and "grpc" not in loaded


def test_every_public_name_resolves_to_its_module():
    for name in tracing.__all__:
        assert getattr(tracing, name) is not None, name
    from labs.tracing import grpc as tracing_grpc
    from labs.tracing import http as tracing_http
    assert tracing.traced_grpc_channel is tracing_grpc.traced_grpc_channel
    assert tracing.grpc_server_interceptors is tracing_grpc.grpc_server_interceptors
    assert tracing.traced_httpx_client is tracing_http.traced_httpx_client
    assert tracing.TraceMiddleware is tracing_http.TraceMiddleware
    assert tracing.record_message is messaging.record_message
    assert tracing.continue_trace is core.continue_trace and tracing.TraceContext is core.TraceContext
    assert set(tracing.__all__) <= set(dir(tracing))


def test_an_unknown_name_says_what_the_package_offers():
    with pytest.raises(AttributeError, match="no attribute 'traced_kafka_producer'.*record_message"):
        tracing.traced_kafka_producer


def test_set_component_is_seen_by_every_module(span_dir):
    """The component name lives in core alone: the package and the messaging spans follow it."""
    before = tracing.component()
    try:
        tracing.set_component("billing")
        assert core.component() == tracing.component() == "billing"
        with tracing.continue_trace("t:p:orders"):
            ctx = tracing.record_message("redis", "jobs", "publish")
        assert ctx.component == "billing"
    finally:
        tracing.set_component(before)
