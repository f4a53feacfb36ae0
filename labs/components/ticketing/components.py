"""The five ticketing services as lab components: `labs.start("orders")` starts all five."""
from __future__ import annotations

import sys

from ...runtime.component import register
from ...runtime.service import PythonService


class TicketingService(PythonService):
    """One service process: `python -m labs.components.ticketing.serve NAME --host ... --http-port
    ... --grpc-port ...`, ready when /health answers and gRPC health says SERVING."""
    module = "labs.components.ticketing.serve"
    http = grpc = True
    start_timeout = 30.0  # ~1.5 s here (importing FastAPI dominates); slow machines need more

    def command(self) -> list[str]:
        return [sys.executable, "-m", self.module, self.name]


class Users(TicketingService):
    name = "users"
    summary = "ticketing: customers and their balances (REST + gRPC)"


class Concerts(TicketingService):
    name = "concerts"
    summary = "ticketing: concerts and seat reservations (REST + gRPC)"


class Payments(TicketingService):
    name = "payments"
    summary = "ticketing: charges, debited through users (REST + gRPC)"
    requires = ("users",)


class Notifications(TicketingService):
    name = "notifications"
    summary = "ticketing: messages to customers (REST + gRPC)"


class Orders(TicketingService):
    name = "orders"
    summary = "ticketing: places orders via users, concerts, payments, notifications (REST + gRPC)"
    requires = ("users", "concerts", "payments", "notifications")


for spec in (Users(), Concerts(), Payments(), Notifications(), Orders()):
    register(spec)
