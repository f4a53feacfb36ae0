"""The whole ticketing system in one process: the same domain, wired with plain method calls.

    shop = Monolith()
    order = shop.place_order("u1", "c1")   # microseconds: nothing crosses a network

Lesson 01 times this against the same flow over REST and gRPC.

Layer: components.
"""
from __future__ import annotations

from .domain import (Concert, ConcertStore, NotificationStore, Order, OrderBook, OrderService, PaymentLedger,
                     PaymentService, User, UserStore)


class Monolith:
    def __init__(self) -> None:
        self.users = UserStore()
        self.concerts = ConcertStore()
        self.ledger = PaymentLedger()
        self.notifications = NotificationStore()
        self.orders = OrderBook()
        # The stores are the collaborators themselves: every "call" below is a method call.
        self.payments = PaymentService(self.ledger, users=self.users)
        self.ordering = OrderService(self.orders, users=self.users, concerts=self.concerts,
                                     payments=self.payments, notifications=self.notifications)

    def place_order(self, user_id: str, concert_id: str, idempotency_key: str | None = None) -> Order:
        return self.ordering.place_order(user_id, concert_id, idempotency_key)

    def get_order(self, order_id: str) -> Order:
        return self.ordering.get_order(order_id)

    def get_user(self, user_id: str) -> User:
        return self.users.get_user(user_id)

    def get_concert(self, concert_id: str) -> Concert:
        return self.concerts.get_concert(concert_id)

    def reset(self) -> None:
        """Back to the seed data (balances, seats) and empty ledgers."""
        for store in (self.users, self.concerts, self.ledger, self.notifications, self.orders):
            store.reset()

    def close(self) -> None:
        """Nothing to release; here so a lesson can treat all three forms alike."""

    def __repr__(self) -> str:
        return "<Monolith: users, concerts, payments, notifications, orders in one process>"
