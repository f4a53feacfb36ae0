"""The five ticketing services as lab components: `labs.start("orders")` starts all five."""
from __future__ import annotations

import sys
from pathlib import Path

from ...runtime.component import register
from ...runtime.service import PythonService


class TicketingService(PythonService):
    """One service process: `python -m labs.components.ticketing.serve NAME --host ... --http-port
    ... --grpc-port ...`, ready when /health answers and gRPC health says SERVING."""
    module = "labs.components.ticketing.serve"
    http = grpc = True
    start_timeout = 30.0  # ~0.3 s here forked, ~1.5 s afresh (importing FastAPI dominates)
    # Imported once by the fork server, so a service starts in a fraction of the import time.
    preload = ("fastapi", "fastapi.responses", "pydantic", "starlette.exceptions", "uvicorn", "grpc",
               "grpc_health.v1.health", "grpc_reflection.v1alpha.reflection", "httpx", "google.protobuf",
               "psutil")

    def command(self) -> list[str]:
        return [sys.executable, "-m", self.module, self.name]

    def reset(self, endpoint: dict[str, str], options: dict, data_dir: Path | None = None) -> str | None:
        """Its seed data back and its fault rules gone (the service's POST /admin/reset)."""
        import httpx
        httpx.post(endpoint["http"] + "/admin/reset", timeout=10).raise_for_status()
        return "seed data restored, fault rules removed"


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
