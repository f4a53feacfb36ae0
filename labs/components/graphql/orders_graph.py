"""The orders subgraph: what customers bought. It owns `Order` (key `id`) and `Concert`, and adds the
field `orders` to the `User` entity that the users subgraph owns.

    schema = build_schema()
    loaders = make_loaders(db)

    type Order @key(fields: "id") { id: ID!  amount: Int!  status: String!  user: User!  concert: Concert! }
    type Concert { id: ID!  title: String!  seatsLeft: Int!  price: Int! }
    type User @key(fields: "id") { id: ID!  orders: [Order!] }        # only the key and what it adds
    type Query { order(id: ID!): Order   orders(first: Int! = 50): [Order!]! }

`Order.user` returns just the key, `{id}`: the gateway asks the users subgraph for the rest.
`User.orders` is nullable on purpose: when this subgraph is down, a query for a user and their
orders still gets the user, with `orders: null` and an error (partial failure, lesson 06).
This subgraph keeps a copy of the concert catalog it sells from; a larger system would give
concerts a subgraph of their own.

Layer: components.
"""
from __future__ import annotations

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from .data import Database
from .subgraph import CountQueries, Schema
from .users_graph import FEDERATION_VERSION


def make_loaders(db: Database) -> dict[str, DataLoader]:
    async def load_concerts(ids: list[str]) -> list[dict | None]:
        return db.concerts_by_ids(ids)

    async def load_orders_of_users(user_ids: list[str]) -> list[list[dict]]:
        return db.orders_of_users(user_ids)

    return {"concerts": DataLoader(load_fn=load_concerts),
            "orders_of_user": DataLoader(load_fn=load_orders_of_users)}


@strawberry.type(description="A concert on sale (the orders subgraph's copy of the catalog)")
class Concert:
    id: strawberry.ID
    title: str
    seats_left: int
    price: int


def _concert(row: dict | None) -> Concert | None:
    return None if row is None else Concert(id=strawberry.ID(row["id"]), title=row["title"],
                                            seats_left=row["seats_left"], price=row["price"])


# The users subgraph's User, as this one sees it: the key, plus the field it adds. No description
# here: the composer would pick one of the two, and the users subgraph's says what a User is.
@strawberry.federation.type(keys=["id"])
class User:
    id: strawberry.ID

    @strawberry.field(description="This customer's orders; null (with an error) when they cannot be read")
    async def orders(self, info: Info) -> list["Order"] | None:
        if info.context.batching:
            rows = await info.context.loaders["orders_of_user"].load(str(self.id))
        else:
            rows = info.context.db.orders_of_user(str(self.id))
        return [Order.from_row(r) for r in rows]


@strawberry.federation.type(keys=["id"], description="An order: the orders subgraph owns it")
class Order:
    id: strawberry.ID
    amount: int
    status: str
    user_id: strawberry.Private[str]
    concert_id: strawberry.Private[str]

    @classmethod
    def from_row(cls, row: dict) -> "Order":
        return cls(id=strawberry.ID(row["id"]), amount=row["amount"], status=row["status"],
                   user_id=row["user_id"], concert_id=row["concert_id"])

    @classmethod
    def resolve_reference(cls, info: Info, id: strawberry.ID) -> "Order | None":
        # No other subgraph references orders in this lab, so no loader here.
        row = info.context.db.order(id)
        return None if row is None else cls.from_row(row)

    @strawberry.field(description="Who placed it (the users subgraph fills in the rest)")
    def user(self) -> User:
        return User(id=strawberry.ID(self.user_id))

    @strawberry.field(description="What it is for")
    async def concert(self, info: Info) -> Concert:
        if info.context.batching:
            row = await info.context.loaders["concerts"].load(self.concert_id)
        else:
            row = info.context.db.concert(self.concert_id)
        return _concert(row)


@strawberry.type
class Query:
    @strawberry.field(description="One order, or null when there is none with that id")
    def order(self, info: Info, id: strawberry.ID) -> Order | None:
        row = info.context.db.order(id)
        return None if row is None else Order.from_row(row)

    @strawberry.field(description="The first orders, oldest first (at most 100)")
    def orders(self, info: Info, first: int = 50) -> list[Order]:
        return [Order.from_row(r) for r in info.context.db.orders(first)]


def build_schema() -> Schema:
    return Schema(query=Query, types=[User, Order, Concert], extensions=[CountQueries],
                                        federation_version=FEDERATION_VERSION)
