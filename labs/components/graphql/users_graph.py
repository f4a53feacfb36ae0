"""The users subgraph: who the customers are. It owns the `User` entity (key `id`).

    schema = build_schema()                          # the lab's users-graph
    schema = build_schema(resolve_user=my_resolver)  # the same schema with another entity resolver
    loaders = make_loaders(db)                       # this request's DataLoaders

    type User @key(fields: "id") { id: ID!  name: String!  email: String!  balance: Int! }
    type Query { user(id: ID!): User   users(first: Int! = 10): [User!]! }

When the gateway needs users for something another subgraph returned (an order's user), it sends one
`_entities` request with a representation `{__typename: "User", id}` per user; strawberry calls
`User.resolve_reference` once per representation. Querying the database there, one row at a time,
is the N+1 of a federated graph; a DataLoader collects the ids and asks once.

Layer: components.
"""
# No `from __future__ import annotations`: the types are built inside build_schema, where strawberry
# could not resolve string annotations from the module's globals.
import inspect
from typing import Any, Callable

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from .data import Database
from .subgraph import CountQueries, Schema

FEDERATION_VERSION = "2.9"  # Hive's composer refuses strawberry's default (2.11); see the component docs

Resolver = Callable[..., Any]  # (info, id) -> row dict | None (or an awaitable of one)


def make_loaders(db: Database) -> dict[str, DataLoader]:
    """A new DataLoader per request: it batches the ids asked for in one tick into one query, and
    caches within the request only (a user changed between two requests is read afresh)."""
    async def load_users(ids: list[str]) -> list[dict | None]:
        return db.users_by_ids(ids)

    return {"users": DataLoader(load_fn=load_users)}


async def resolve_user(info: Info, id: str) -> dict | None:
    """The lab's resolver: batched through this request's DataLoader, or (batching switched off in
    /admin/batching) one query per representation."""
    if info.context.batching:
        return await info.context.loaders["users"].load(id)
    return info.context.db.user(id)


def build_schema(resolve_user: Resolver = resolve_user) -> Schema:
    """The users subgraph's schema; `resolve_user(info, id)` answers each `_entities` representation."""

    @strawberry.federation.type(keys=["id"], description="A customer of the ticketing system")
    class User:
        id: strawberry.ID
        name: str
        email: str
        balance: int

        @classmethod
        async def resolve_reference(cls, info: Info, id: strawberry.ID) -> "User | None":
            row = resolve_user(info, id)
            if inspect.isawaitable(row):
                row = await row
            return None if row is None else cls.from_row(row)

        @classmethod
        def from_row(cls, row: dict) -> "User":
            if not isinstance(row, dict) or not {"id", "name", "email", "balance"} <= set(row):
                raise TypeError(f"a user row must be a dict with id, name, email and balance, got {row!r}")
            return cls(id=strawberry.ID(row["id"]), name=row["name"], email=row["email"], balance=row["balance"])

    @strawberry.type
    class Query:
        @strawberry.field(description="One customer, or null when there is none with that id")
        def user(self, info: Info, id: strawberry.ID) -> User | None:
            row = info.context.db.user(id)
            return None if row is None else User.from_row(row)

        @strawberry.field(description="The first customers, in id order (at most 100)")
        def users(self, info: Info, first: int = 10) -> list[User]:
            return [User.from_row(r) for r in info.context.db.users(first)]

    return Schema(query=Query, extensions=[CountQueries],
                                        federation_version=FEDERATION_VERSION)
