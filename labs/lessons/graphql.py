"""GraphQL federation as lesson 06 shows it: one graph over two strawberry subgraphs and a real
gateway, what a query costs at the data layer, and what breaks or gets cached.

    graph = graphql.Graph(lab)                        # the gateway and the subgraphs' admin API
    graphql.readable_sdl(sdl)                         # a subgraph's SDL without federation's plumbing
    graphql.field_owners(graph.supergraph())          # type, field, the subgraph that resolves it
    graphql.leaf_paths(answer["data"])                # ["order.amount", "order.user.name", ...]
    graphql.source(users_graph.resolve_user)          # a resolver's code, to read next to its counts
    graphql.persisted_params(ORDER_SCREEN, {"id": "o3"})   # a persisted query as GET parameters
    graphql.BAD_QUERIES                               # malformed, unknown field, too expensive
    graphql.plot_statements({...})                    # data-layer statements per query, as bars

The client code the lesson teaches (httpx posting a query, a DataLoader, hishel in front of httpx)
is written in the notebook's cells; this module holds what is around it.

Layer: lessons.
"""
from __future__ import annotations

import inspect
import json
import textwrap
from typing import Any, Callable, Mapping

from graphql import ObjectTypeDefinitionNode, parse, print_ast

from ..clients.graphql import Answer, Counted, Graph
from ..components.graphql.data import CUSTOMERS, MAX_FIRST, ORDERS
from ..components.graphql.queries import ORDER_SCREEN, PERSISTED, persisted_id

__all__ = ["Answer", "BAD_QUERIES", "CUSTOMERS", "Counted", "FIFTY_ORDERS", "Graph", "MAX_FIRST", "ORDERS",
           "ORDER_SCREEN", "PERSISTED", "USER_WITH_ORDERS", "field_owners", "leaf_paths", "persisted_id",
           "persisted_params", "plot_statements", "readable_sdl", "source"]

# The article's example of N+1, on 50 orders: one query for the orders, then each order's user.
FIFTY_ORDERS = "{ orders(first: 50) { id amount user { name email } } }"
# A query both subgraphs answer: the user from users-graph, their orders from orders-graph.
USER_WITH_ORDERS = """query UserWithOrders($id: ID!) {
  user(id: $id) { name email orders { id amount } }
}"""
# Three kinds of bad input, each refused by the gateway with its own error code.
BAD_QUERIES = {
    "malformed (a brace missing)": "{ order(id: \"o1\") { id status }",
    "unknown field": "{ order(id: \"o1\") { id colour } }",
    "too deep (orders of the user of each order, three times)":
        "{ user(id: \"u1\") { orders { user { orders { user { orders { id } } } } } } }",
}
_PLUMBING_TYPES = {"_Service", "_Any", "_Entity", "_FieldSet", "link__Import", "link__Purpose"}
_PLUMBING_FIELDS = {"_entities", "_service"}


def readable_sdl(sdl: str) -> str:
    """A subgraph's SDL as a person reads it: its own types, without the types and fields federation
    adds to every subgraph (_entities, _service, _Any, ...) and without the schema's @link header."""
    if not isinstance(sdl, str) or not sdl.strip():
        raise ValueError(f"sdl must be the text of a GraphQL schema, got {sdl!r}")
    kept = []
    for definition in parse(sdl).definitions:
        name = getattr(getattr(definition, "name", None), "value", None)
        if name is None or name in _PLUMBING_TYPES:
            continue  # the schema definition (with @link) and federation's own types
        if isinstance(definition, ObjectTypeDefinitionNode) and definition.fields:
            fields = tuple(f for f in definition.fields if f.name.value not in _PLUMBING_FIELDS)
            definition = definition.__class__(**{**{k: getattr(definition, k) for k in definition.keys},
                                                 "fields": fields})
        kept.append(print_ast(definition))
    return "\n\n".join(kept)


def field_owners(supergraph_sdl: str):
    """Which subgraph resolves each field of the composed graph, read from the supergraph's
    @join__type / @join__field directives: a DataFrame with columns type, field, subgraph."""
    import pandas as pd

    document = parse(supergraph_sdl)
    graphs = {}
    for definition in document.definitions:
        if getattr(definition, "name", None) is not None and definition.name.value == "join__Graph":
            for value in definition.values:
                for directive in value.directives:
                    if directive.name.value == "join__graph":
                        names = {a.name.value: a.value.value for a in directive.arguments}
                        graphs[value.name.value] = names["name"]
    if not graphs:
        raise ValueError("not a supergraph: it has no join__Graph enum (ask the gateway: Graph(lab).supergraph())")
    rows = []
    for definition in document.definitions:
        if not isinstance(definition, ObjectTypeDefinitionNode) or definition.name.value.startswith(("join__", "link__")):
            continue
        in_graphs = [_graph_argument(d, graphs) for d in definition.directives or () if d.name.value == "join__type"]
        for f in definition.fields or ():
            joins = [d for d in f.directives or () if d.name.value == "join__field"]
            owners = [_graph_argument(d, graphs) for d in joins
                      if not any(a.name.value == "external" and getattr(a.value, "value", False) for a in d.arguments)]
            rows.append({"type": definition.name.value, "field": f.name.value,
                         "subgraph": ", ".join(sorted(owners or in_graphs))})
    return pd.DataFrame(rows, columns=["type", "field", "subgraph"])


def _graph_argument(directive: Any, graphs: Mapping[str, str]) -> str:
    for argument in directive.arguments:
        if argument.name.value == "graph":
            return graphs.get(argument.value.value, argument.value.value)
    return "?"


def leaf_paths(data: Any, prefix: str = "") -> list[str]:
    """The scalar fields an answer holds, as dotted paths (list items share one path): what the
    client actually received, to compare with what it asked for."""
    if isinstance(data, dict):
        found: list[str] = []
        for key, value in data.items():
            found += leaf_paths(value, f"{prefix}.{key}" if prefix else key)
        return sorted(set(found))
    if isinstance(data, list):
        return sorted({path for item in data for path in leaf_paths(item, prefix)})
    return [prefix] if prefix else []


def source(function: Callable) -> str:
    """The source of a function (a resolver, a loader), to read next to what it measurably does."""
    if not callable(function):
        raise ValueError(f"source needs a function, got {function!r}")
    return textwrap.dedent(inspect.getsource(function))


def persisted_params(document: str, variables: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The query-string parameters of a persisted query over GET: its id (sha256) instead of its text,
    as Apollo's automatic persisted queries spell it. The gateway knows only the documents in PERSISTED."""
    key = persisted_id(document)
    if key not in PERSISTED:
        raise ValueError(f"the gateway has no persisted query with id {key[:12]}...; it knows "
                         f"{len(PERSISTED)} ({', '.join(d.split('(')[0].strip() for d in PERSISTED.values())})")
    return {"extensions": json.dumps({"persistedQuery": {"version": 1, "sha256Hash": key}}),
            "variables": json.dumps(dict(variables or {}))}


def plot_statements(counts: Mapping[str, Mapping[str, int]], title: str = "data-layer statements per query"):
    """Stacked bars: for each run (e.g. "plain resolvers", "DataLoader"), the statements each subgraph ran."""
    import matplotlib.pyplot as plt

    if not counts:
        raise ValueError("plot_statements needs {run: {subgraph: statements}}")
    runs = list(counts)
    subgraphs = sorted({s for per in counts.values() for s in per})
    fig, ax = plt.subplots(figsize=(8, 0.9 + 0.7 * len(runs)))
    left = [0] * len(runs)
    for subgraph in subgraphs:
        values = [counts[run].get(subgraph, 0) for run in runs]
        bars = ax.barh(runs, values, left=left, label=subgraph, alpha=0.75)
        ax.bar_label(bars, [str(v) if v else "" for v in values], label_type="center")
        left = [a + b for a, b in zip(left, values)]
    ax.invert_yaxis()
    ax.set_xlabel("SQL statements the subgraphs ran for one query")
    ax.set_title(title)
    ax.legend(loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig
