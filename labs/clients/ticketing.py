"""The ticketing system as a lesson uses it: the same methods in-process, over REST and over gRPC.

    lab = labs.start("orders")                 # and the four services it calls
    for shop in (Monolith(), RestTicketing(lab), GrpcTicketing(lab)):
        order = shop.place_order("u1", "c1")

Failures raise the domain's errors whatever the transport: `NotFound`, `Conflict` (its `reason`
says sold_out or insufficient_balance), `Invalid`, and `Unavailable` (its `service` names what
could not be reached). Connections are opened once and kept, so timings measure calls, not setup.

Layer: clients.
"""
from __future__ import annotations

from typing import Any

from ..components.ticketing.domain import Concert, Conflict, DomainError, Invalid, NotFound, Order, Unavailable, User
from ..components.ticketing.monolith import Monolith
from ..components.ticketing.remote import (GrpcConcerts, GrpcLink, GrpcOrders, GrpcUsers, RestConcerts, RestLink, RestOrders,
                                           RestUsers)

__all__ = ["Conflict", "DomainError", "GrpcTicketing", "Invalid", "Monolith", "NotFound", "RestTicketing",
           "Unavailable"]

CALLER = "notebook"  # how calls from the lesson appear in traces
SERVICES = ("users", "concerts", "payments", "notifications", "orders")


class _Ticketing:
    """One client form of the services; subclasses name the transport's classes."""
    endpoint_key: str  # "http" or "grpc"
    Link: type
    Orders: type
    Users: type
    Concerts: type

    def __init__(self, lab: Any):
        self.lab = lab
        self._admin: dict[str, RestLink] = {}  # opened on the first reset only
        self._links = {name: self.Link(CALLER, name, lab.endpoint(name)[self.endpoint_key])
                       for name in ("orders", "users", "concerts")}
        self.orders = self.Orders(self._links["orders"])
        self.users = self.Users(self._links["users"])
        self.concerts = self.Concerts(self._links["concerts"])

    def place_order(self, user_id: str, concert_id: str, idempotency_key: str | None = None) -> Order:
        """With an idempotency key, a retry of the same order returns the first one, charged once."""
        return self.orders.place_order(user_id, concert_id, idempotency_key)

    def get_order(self, order_id: str) -> Order:
        return self.orders.get_order(order_id)

    def get_user(self, user_id: str) -> User:
        return self.users.get_user(user_id)

    def get_concert(self, concert_id: str) -> Concert:
        return self.concerts.get_concert(concert_id)

    def reset(self) -> None:
        """Every service back to its seed data (balances, seats, empty ledgers), through REST
        whatever the transport: the proto has no reset call."""
        for name in SERVICES:
            if name not in self._admin:
                self._admin[name] = RestLink(CALLER, name, self.lab.endpoint(name)["http"])
            self._admin[name].reset()

    def close(self) -> None:
        for link in [*self._links.values(), *self._admin.values()]:
            link.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} via {self.lab.endpoint('orders')[self.endpoint_key]}>"


class RestTicketing(_Ticketing):
    """The services over HTTP/JSON: the lesson calls orders' REST API, which calls the others'."""
    endpoint_key, Link, Orders, Users, Concerts = "http", RestLink, RestOrders, RestUsers, RestConcerts


class GrpcTicketing(_Ticketing):
    """The services over gRPC/protobuf: the lesson calls orders' gRPC API, which calls the others'."""
    endpoint_key, Link, Orders, Users, Concerts = "grpc", GrpcLink, GrpcOrders, GrpcUsers, GrpcConcerts
