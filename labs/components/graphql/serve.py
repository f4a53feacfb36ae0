"""Run one GraphQL subgraph as a process (the lab runtime does this for `users-graph`, `orders-graph`).

    python -m labs.components.graphql.serve users-graph --host 127.0.0.1 --http-port 8001

Layer: components.
"""
from __future__ import annotations

import argparse

from fastapi import FastAPI

from ... import tracing
from . import orders_graph, users_graph
from .data import SUBGRAPHS, Database
from .subgraph import subgraph_app

_MODULES = {"users-graph": users_graph, "orders-graph": orders_graph}


def build(name: str) -> FastAPI:
    """The app of subgraph `name`, over its own freshly seeded database."""
    if name not in _MODULES:
        raise ValueError(f"name must be one of {', '.join(SUBGRAPHS)}, got {name!r}")
    module = _MODULES[name]
    return subgraph_app(name, module.build_schema(), Database(name), module.make_loaders)


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Run one GraphQL subgraph of the ticketing lab.")
    parser.add_argument("name", choices=SUBGRAPHS)
    parser.add_argument("--host", default="127.0.0.1", help="the only address to listen on")
    parser.add_argument("--http-port", type=int, required=True)
    args = parser.parse_args(argv)
    tracing.set_component(args.name)
    app = build(args.name)
    print(f"{args.name}: GraphQL on http://{args.host}:{args.http_port}/graphql", flush=True)
    # One worker: the data lives in this process. uvicorn handles SIGTERM/SIGINT.
    uvicorn.run(app, host=args.host, port=args.http_port, workers=1, log_level="warning")


if __name__ == "__main__":
    main()
