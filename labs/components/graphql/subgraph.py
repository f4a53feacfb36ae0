"""One GraphQL subgraph as a lab service: a strawberry federation schema served by FastAPI, with its
data layer counted per request and an admin API for the lesson.

    app = subgraph_app("users-graph", schema, Database("users-graph"), loaders=make_loaders)
    python -m labs.components.graphql.serve users-graph --host 127.0.0.1 --http-port 8001

Routes:
    POST/GET /graphql     the subgraph (the gateway calls it; so can a notebook, for comparison)
    GET  /health          readiness
    GET  /admin/queries   data-layer statements: {"total": n, "requests": [{seq, fields, representations,
                          queries, statements}, ...]} (the last REQUEST_LOG operations, oldest first)
    POST /admin/batching  {"enabled": true|false}: resolvers use the per-request DataLoaders, or query
                          one row at a time (the N+1 the lesson counts); answers the setting
    POST /admin/reset     batching back on, counters and the request log emptied

Layer: components.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import strawberry
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict
from strawberry.extensions import SchemaExtension
from strawberry.fastapi import BaseContext, GraphQLRouter

from ... import tracing
from ..ticketing.domain import DomainError
from .data import Database

REQUEST_LOG = 200
MAX_STATEMENTS_SHOWN = 100


@dataclass
class Settings:
    batching: bool = True
    requests: collections.deque = field(default_factory=lambda: collections.deque(maxlen=REQUEST_LOG))
    operations: int = 0  # numbers the logged operations, so a reader can ask for those after one it saw


class GraphContext(BaseContext):
    """What every resolver of one request sees as `info.context`: the database, whether to batch,
    and this request's own DataLoaders (new for every request, so nothing is cached across them)."""

    def __init__(self, db: Database, settings: Settings, loaders: dict[str, Any]):
        super().__init__()
        self.db, self.settings, self.loaders = db, settings, loaders

    @property
    def batching(self) -> bool:
        return self.settings.batching


class CountQueries(SchemaExtension):
    """Counts the statements one GraphQL operation runs and logs them with what was asked."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        if not isinstance(context, GraphContext):
            yield
            return
        with context.db.counting() as log:
            yield
        variables = self.execution_context.variables or {}
        representations = variables.get("representations")
        context.settings.operations += 1
        context.settings.requests.append({
            "seq": context.settings.operations, "fields": _root_fields(self.execution_context),
            "representations": len(representations) if isinstance(representations, list) else None,
            "queries": log.queries, "statements": log.statements[:MAX_STATEMENTS_SHOWN]})


class Schema(strawberry.federation.Schema):
    """strawberry's federation schema, logging only what is a bug: a bad argument (an id that is not
    one, `first: 0`) is the client's mistake, answered in `errors` with the allowed values, and has
    no place as a traceback in the subgraph's log."""

    def process_errors(self, errors: list, execution_context: Any = None) -> None:
        bugs = [e for e in errors if e.original_error is not None
                and not isinstance(e.original_error, (DomainError, ValueError))]
        super().process_errors(bugs, execution_context)


def _root_fields(execution_context: Any) -> list[str]:
    try:
        operation = next(d for d in execution_context.graphql_document.definitions
                         if d.kind == "operation_definition")
        return [s.name.value for s in operation.selection_set.selections if hasattr(s, "name")]
    except Exception:  # a document that did not parse never reaches execution; be safe anyway
        return []


class BatchingSwitch(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    enabled: bool


def subgraph_app(name: str, schema: Any, db: Database,
                 loaders: Callable[[Database], dict[str, Any]]) -> FastAPI:
    """The FastAPI app of one subgraph; `loaders(db)` makes a fresh set of DataLoaders per request."""
    settings = Settings()
    app = FastAPI(title=f"{name} (GraphQL subgraph)", version="1.0")

    async def context_getter() -> GraphContext:
        return GraphContext(db, settings, loaders(db))

    # No GraphiQL page: the gateway is what people explore; the subgraph is for the gateway.
    app.include_router(GraphQLRouter(schema, context_getter=context_getter, graphql_ide=None), prefix="/graphql")

    @app.get("/health", tags=["admin"])
    def health() -> dict[str, str]:
        return {"status": "ok", "service": name}

    @app.get("/admin/queries", tags=["admin"])
    def queries() -> dict[str, Any]:
        return {"total": db.total, "batching": settings.batching, "requests": list(settings.requests)}

    @app.post("/admin/batching", tags=["admin"])
    def batching(switch: BatchingSwitch) -> dict[str, bool]:
        settings.batching = switch.enabled
        return {"enabled": settings.batching}

    @app.post("/admin/reset", tags=["admin"])
    def reset() -> dict[str, str]:
        settings.batching = True
        settings.requests.clear()
        db.reset_counts()
        return {"status": "reset", "service": name}

    # Continue incoming traces as `name`. instrument_fastapi also names this whole process `name`; an app
    # built inside a kernel (the exercise's subgraph) must not rename the kernel, so the name is put back.
    process_name = tracing.component()
    tracing.instrument_fastapi(app, name)
    tracing.set_component(process_name)  # serve.py names a subgraph process before it builds the app
    return app
