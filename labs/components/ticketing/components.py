"""The five ticketing services as lab components: `labs.start("orders")` starts all five.

Layer: components.
"""
from __future__ import annotations

import sys
from pathlib import Path

from ...runtime.component import register
from ...runtime.process import ProcessSpec
from ...runtime.service import PythonService
from ..registry.agent import check_ttl


class TicketingService(PythonService):
    """One service process: `python -m labs.components.ticketing.serve NAME --host ... --http-port
    ... --grpc-port ...`, ready when /health answers and gRPC health says SERVING."""
    module = "labs.components.ticketing.serve"
    http = grpc = True
    max_replicas = 9  # lesson 07: options={"concerts": {"replicas": 3}}, each on its own ports
    # register_ttl: whole seconds; the service then puts itself in etcd with a lease (lesson 07)
    defaults = {"register_ttl": None}
    reset_path, reset_says = "/admin/reset", "seed data restored, fault rules removed"
    start_timeout = 30.0  # ~0.3 s here forked, ~1.5 s afresh (importing FastAPI dominates)
    # Imported once by the fork server, so a service starts in a fraction of the import time.
    preload = ("fastapi", "fastapi.responses", "pydantic", "starlette.exceptions", "uvicorn", "grpc",
               "grpc_health.v1.health", "grpc_reflection.v1alpha.reflection", "httpx", "google.protobuf",
               "psutil")

    def command(self) -> list[str]:
        return [sys.executable, "-m", self.module, self.name]

    def validate_options(self, options: dict) -> dict:
        merged = super().validate_options(options)
        if merged["register_ttl"] is not None:
            check_ttl(merged["register_ttl"], "register_ttl")
        return merged

    def requirements(self, options: dict) -> tuple[str, ...]:
        return self.requires + (("etcd",) if options.get("register_ttl") is not None else ())

    def processes(self, data_dir: Path, ports: dict[str, int], options: dict) -> list[ProcessSpec]:
        specs = super().processes(data_dir, ports, options)
        if options.get("register_ttl") is not None:
            specs[0].env["LABS_REGISTER_TTL"] = str(options["register_ttl"])
        return specs


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
