"""Lesson 06: fix an N+1 entity resolver with a DataLoader.

Layer: exercises.
"""
from __future__ import annotations

import contextlib
import logging

from ..tools.check import NotYet, register_exercise

ORDERS = 50
MAX_STATEMENTS = 2
ENTITIES = "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id name email balance } } }"


def _representations(lab) -> list[dict]:
    """What the gateway sends users-graph for the users of the first 50 orders: read from the orders
    subgraph itself, in the orders' order."""
    import httpx

    answer = httpx.post(lab.endpoint("orders-graph")["graphql"], timeout=10,
                        json={"query": f"{{ orders(first: {ORDERS}) {{ user {{ id }} }} }}"}).json()
    return [{"__typename": "User", "id": order["user"]["id"]} for order in answer["data"]["orders"]]


@register_exercise("06.1", "fix an N+1 resolver with a DataLoader", answer="fix",
                   needs=("graphql",))
def check_loader(answer, lab) -> str:
    from ..components.graphql import users_graph
    from ..components.graphql.data import Database

    if not (isinstance(answer, tuple) and len(answer) == 2 and all(callable(f) for f in answer)):
        raise NotYet("fix must be your two functions: fix = make_loaders, resolve_user")
    make_loaders, resolve_user = answer
    made = make_loaders(Database("users-graph"))  # NotImplementedError and friends surface here, plainly
    if not isinstance(made, dict):
        raise NotYet(f"make_loaders(db) must return a dict of DataLoaders by name, like "
                     f"{{\"users\": DataLoader(load_fn=...)}}; it returned {type(made).__name__}")
    representations = _representations(lab)
    request = {"query": ENTITIES, "variables": {"r": representations}}
    plain, _ = _ask(users_graph.build_schema(_plain), users_graph.make_loaders, request)
    response, log = _ask(users_graph.build_schema(resolve_user), _checked(make_loaders), request)
    try:
        answer_ = response.json()
    except ValueError:
        raise NotYet(f"your subgraph could not answer ({response.status_code}): {response.text[:200]}") from None
    statements = log[-1]["queries"] if log else None
    errors = answer_.get("errors") or []
    if errors:
        message = errors[0].get("message", "")
        if "NotImplementedError" in message or message == "":
            raise NotImplementedError
        raise NotYet(f"your subgraph answered the gateway's request with an error: {message[:300]}")
    got = (answer_.get("data") or {}).get("_entities")
    expected = plain.json()["data"]["_entities"]
    if statements is None:
        raise NotYet("your subgraph ran no operation; did resolve_user return a row?")
    if statements >= ORDERS:
        raise NotYet(f"{statements} SQL statements for {len(representations)} representations: still one query "
                     f"per user. resolve_user should load through info.context.loaders[\"users\"], and the "
                     f"loader's batch function fetch all ids in one query (db.users_by_ids)")
    if statements > MAX_STATEMENTS:
        raise NotYet(f"{statements} SQL statements for {len(representations)} representations: fewer than 50, "
                     f"but a batch function should need one query for all the ids it is given")
    if got != expected:
        wrong = next((i for i, (a, b) in enumerate(zip(got or [], expected)) if a != b), None)
        if got is None or len(got) != len(expected):
            raise NotYet(f"{len(expected)} representations should give {len(expected)} users; "
                         f"got {None if got is None else len(got)}")
        raise NotYet(f"the users differ from the plain resolver's, first at representation {wrong} "
                     f"(id {representations[wrong]['id']}): expected {expected[wrong]}, got {got[wrong]}. "
                     f"A batch function must return the rows in the order of the ids it was given")
    return (f"{len(representations)} representations answered with {statements} SQL statement"
            f"{'s' * (statements != 1)} instead of {len(representations)}, the same users as the plain resolver")


def _plain(info, id: str):
    """The unbatched resolver the answer is compared with: one query per representation."""
    return info.context.db.user(id)


def _ask(schema, loaders, request: dict):
    """Serve a users subgraph with `schema` on a loopback port of this kernel, send it `request`;
    return the response and the subgraph's log of what it ran."""
    import httpx

    from ..components.graphql.data import Database
    from ..components.graphql.subgraph import subgraph_app
    from ..lessons import rest

    app = subgraph_app("users-graph (exercise)", schema, Database("users-graph"), loaders)
    with rest.serve_app(app, log_level="critical") as base_url, _quiet_strawberry(), \
            httpx.Client(base_url=base_url, timeout=30) as subgraph:
        response = subgraph.post("/graphql", json=request)
        response.read()
        return response, subgraph.get("/admin/queries").json()["requests"]


class _Loaders(dict):
    """The learner's loaders; asking for one it does not have says so in words."""

    def __missing__(self, name):
        raise LookupError(f"info.context.loaders has no loader {name!r}: make_loaders(db) returned "
                          f"{sorted(self) or 'no loaders'}; return {{{name!r}: DataLoader(load_fn=...)}}")


def _checked(make_loaders):
    return lambda db: _Loaders(make_loaders(db))


@contextlib.contextmanager
def _quiet_strawberry():
    """The learner's mistakes come back as NotYet; strawberry need not print their tracebacks too."""
    log = logging.getLogger("strawberry.execution")
    level, log.disabled = log.disabled, True
    try:
        yield
    finally:
        log.disabled = level
