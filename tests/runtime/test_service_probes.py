"""Python services as components: HTTP /health and gRPC health decide readiness."""
import sys
from pathlib import Path

import labs
from labs.runtime.component import _registry
from labs.runtime.service import PythonService

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "health_service.py"


class HealthService(PythonService):
    name = "health-fixture"
    http = grpc = True

    def command(self):
        return [sys.executable, str(FIXTURE)]


def test_a_service_is_ready_when_http_and_grpc_health_answer():
    _registry["health-fixture"] = HealthService()
    try:
        with labs.start("health-fixture") as lab:
            ep = lab.endpoint("health-fixture")
            assert set(ep) == {"http", "grpc"}
            assert ep["http"].startswith("http://127.0.0.1:") and ep["grpc"].startswith("127.0.0.1:")
            listeners = lab.listeners("health-fixture")
            assert listeners and all(a.startswith("127.0.0.1:") for a in listeners), listeners
            assert "health service ready" in lab.logs("health-fixture")
    finally:
        del _registry["health-fixture"]


class Downstream(HealthService):
    name = "downstream-fixture"


class Upstream(HealthService):
    name = "upstream-fixture"
    requires = ("downstream-fixture",)


def test_requirements_start_first_and_reach_the_process_as_endpoints():
    import json
    _registry.update({"downstream-fixture": Downstream(), "upstream-fixture": Upstream()})
    try:
        with labs.start("upstream-fixture") as lab:
            assert lab.names == ["downstream-fixture", "upstream-fixture"]
            comp = lab.component("upstream-fixture")
            given = json.loads(comp.extra_env["LABS_DEPENDENCIES"])
            assert given == {"downstream-fixture": lab.endpoint("downstream-fixture")}
            assert comp.extra_env["LABS_TRACE_DIR"]
    finally:
        del _registry["downstream-fixture"], _registry["upstream-fixture"]
