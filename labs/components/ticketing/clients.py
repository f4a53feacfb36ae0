"""The ticketing system as a lesson uses it: the same methods in-process, over REST and over gRPC.

    lab = labs.start("orders")                 # and the four services it calls
    for shop in (Monolith(), RestTicketing(lab), GrpcTicketing(lab)):
        order = shop.place_order("u1", "c1")

Failures raise the domain's errors whatever the transport: `NotFound`, `Conflict` (its `reason`
says sold_out or insufficient_balance), `Invalid`, and `Unavailable` (its `service` names what
could not be reached). Connections are opened once and kept, so timings measure calls, not setup.
"""
from __future__ import annotations

from typing import Any

from .domain import Concert, Conflict, DomainError, Invalid, NotFound, Order, Unavailable, User
from .monolith import Monolith
from .remote import (GrpcConcerts, GrpcLink, GrpcOrders, GrpcUsers, RestConcerts, RestLink, RestOrders,
                     RestUsers)

__all__ = ["Conflict", "DomainError", "GrpcTicketing", "Invalid", "Monolith", "NotFound", "RestTicketing",
           "Unavailable"]

CALLER = "notebook"  # how calls from the lesson appear in traces
SERVICES = ("users", "concerts", "payments", "notifications", "orders")


class _Ticketing:
    """What both network forms share: resetting every service through its REST admin route."""

    def __init__(self, lab: Any):
        self.lab = lab
        self._admin: dict[str, RestLink] = {}  # opened on the first reset only

    def reset(self) -> None:
        """Every service back to its seed data (balances, seats, empty ledgers)."""
        for name in SERVICES:
            if name not in self._admin:
                self._admin[name] = RestLink(CALLER, name, self.lab.endpoint(name)["http"])
            self._admin[name].reset()

    def close(self) -> None:
        for link in self._admin.values():
            link.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class RestTicketing(_Ticketing):
    """The services over HTTP/JSON: the lesson calls orders' REST API, which calls the others'."""

    def __init__(self, lab: Any):
        super().__init__(lab)
        self._links = {name: RestLink(CALLER, name, lab.endpoint(name)["http"])
                       for name in ("orders", "users", "concerts")}
        self.orders = RestOrders(self._links["orders"])
        self.users = RestUsers(self._links["users"])
        self.concerts = RestConcerts(self._links["concerts"])

    def place_order(self, user_id: str, concert_id: str) -> Order:
        return self.orders.place_order(user_id, concert_id)

    def get_order(self, order_id: str) -> Order:
        return self.orders.get_order(order_id)

    def get_user(self, user_id: str) -> User:
        return self.users.get_user(user_id)

    def get_concert(self, concert_id: str) -> Concert:
        return self.concerts.get_concert(concert_id)

    def close(self) -> None:
        for link in self._links.values():
            link.close()
        super().close()

    def __repr__(self) -> str:
        return f"<RestTicketing via {self._links['orders'].client.base_url}>"


class GrpcTicketing(_Ticketing):
    """The services over gRPC/protobuf: the lesson calls orders' gRPC API, which calls the others'."""

    def __init__(self, lab: Any):
        super().__init__(lab)
        self._links = {name: GrpcLink(CALLER, name, lab.endpoint(name)["grpc"])
                       for name in ("orders", "users", "concerts")}
        self.orders = GrpcOrders(self._links["orders"])
        self.users = GrpcUsers(self._links["users"])
        self.concerts = GrpcConcerts(self._links["concerts"])

    def place_order(self, user_id: str, concert_id: str) -> Order:
        return self.orders.place_order(user_id, concert_id)

    def get_order(self, order_id: str) -> Order:
        return self.orders.get_order(order_id)

    def get_user(self, user_id: str) -> User:
        return self.users.get_user(user_id)

    def get_concert(self, concert_id: str) -> Concert:
        return self.concerts.get_concert(concert_id)

    def close(self) -> None:
        for link in self._links.values():
            link.close()
        super().close()

    def __repr__(self) -> str:
        return f"<GrpcTicketing via {self._links['orders'].target}>"
