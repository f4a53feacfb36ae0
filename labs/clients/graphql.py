"""The lab's GraphQL graph as a lesson reaches it: the gateway, the subgraphs' admin API (counted
data-layer statements, the batching switch), and a query helper that never raises for an answer.

    graph = Graph(lab)                           # the gateway and both subgraphs of a started lab
    answer = graph.ask("{ order(id: \\"o3\\") { id } }")    # Answer(status, body, bytes, seconds)
    answer.data, answer.errors, answer.codes
    with graph.counting() as counted:            # data-layer statements run meanwhile, per subgraph
        graph.ask(QUERY)
    counted.queries                              # {"users-graph": 50, "orders-graph": 1}
    counted.requests["users-graph"]              # what each subgraph was asked, and what it ran
    graph.batching(False)                        # resolvers query one row at a time (the N+1)
    graph.reset()                                # batching on, counters and request logs emptied

Layer: clients (talks to the graphql components over HTTP).
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import httpx

from ..components.graphql.data import SUBGRAPHS
from ..runtime import args

GATEWAY = "graphql"
TIMEOUT = 10.0


@dataclass
class Answer:
    """One GraphQL answer as the client got it: HTTP status, the JSON body, its size and time."""
    status: int
    body: dict
    bytes: int
    seconds: float

    @property
    def data(self) -> Any:
        return self.body.get("data")

    @property
    def errors(self) -> list[dict]:
        return self.body.get("errors") or []

    @property
    def codes(self) -> list[str]:
        """The `extensions.code` of each error (GRAPHQL_PARSE_FAILED, ...)."""
        return [(e.get("extensions") or {}).get("code", "") for e in self.errors]


@dataclass
class Counted:
    """What the subgraphs' data layers ran during a `counting()` block."""
    queries: dict[str, int] = field(default_factory=dict)
    requests: dict[str, list[dict]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.queries.values())


class Graph:
    """The gateway and the subgraphs of a lab started with `labs.start("graphql")`."""

    def __init__(self, lab: Any, timeout: float = TIMEOUT):
        args.positive_seconds("timeout", timeout, 120)
        self.url = lab.endpoint(GATEWAY)["graphql"]
        self.base_url = lab.endpoint(GATEWAY)["http"]
        self.subgraphs = {name: lab.endpoint(name)["http"] for name in SUBGRAPHS}
        self._http = httpx.Client(timeout=timeout, trust_env=False)

    # ---- asking

    def ask(self, query: str, variables: dict | None = None, url: str | None = None,
            headers: dict | None = None) -> Answer:
        """POST a query (to the gateway, or to `url`); every answer is returned, errors included."""
        if not isinstance(query, str):
            raise ValueError(f"query must be a GraphQL document as a str, got {type(query).__name__}")
        if variables is not None and not isinstance(variables, dict):
            raise ValueError(f"variables must be a dict like {{'id': 'o3'}}, got {variables!r}")
        started = time.perf_counter()
        response = self._http.post(url or self.url, json={"query": query, "variables": variables or {}},
                                   headers=headers)
        seconds = time.perf_counter() - started
        try:
            body = response.json()
        except ValueError:
            body = {"errors": [{"message": response.text[:500]}]}
        return Answer(response.status_code, body if isinstance(body, dict) else {}, len(response.content), seconds)

    def supergraph(self) -> str:
        """The composed supergraph SDL the gateway serves (with its join__ directives)."""
        return self._http.get(self.base_url + "/supergraph").raise_for_status().text

    # ---- the subgraphs' data layer

    def _admin(self, name: str, method: str, path: str, json: Any = None) -> Any:
        args.choice("subgraph", name, SUBGRAPHS)
        response = self._http.request(method, self.subgraphs[name] + path, json=json)
        return response.raise_for_status().json()

    def statements(self) -> dict[str, int]:
        """Every data-layer statement each subgraph has run since it started (or `reset`)."""
        return {name: self._admin(name, "GET", "/admin/queries")["total"] for name in SUBGRAPHS}

    def request_log(self, name: str) -> list[dict]:
        """The operations subgraph `name` ran: root fields, representations, statements."""
        return self._admin(name, "GET", "/admin/queries")["requests"]

    @contextlib.contextmanager
    def counting(self) -> Iterator[Counted]:
        """Count the statements each subgraph runs during the block (read from the subgraphs)."""
        before = {name: self._admin(name, "GET", "/admin/queries") for name in SUBGRAPHS}
        counted = Counted()
        yield counted
        for name in SUBGRAPHS:
            after = self._admin(name, "GET", "/admin/queries")
            counted.queries[name] = after["total"] - before[name]["total"]
            seen = max((r["seq"] for r in before[name]["requests"]), default=0)
            counted.requests[name] = [r for r in after["requests"] if r["seq"] > seen]

    def batching(self, enabled: bool, subgraphs: tuple[str, ...] = SUBGRAPHS) -> None:
        """Switch the subgraphs' DataLoaders on (one query per request) or off (one per row)."""
        if not isinstance(enabled, bool):
            raise ValueError(f"enabled must be True or False, got {enabled!r}")
        for name in subgraphs:
            self._admin(name, "POST", "/admin/batching", {"enabled": enabled})

    def reset(self) -> None:
        """Batching on, statement counters and request logs emptied, in both subgraphs."""
        for name in SUBGRAPHS:
            self._admin(name, "POST", "/admin/reset")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Graph":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
