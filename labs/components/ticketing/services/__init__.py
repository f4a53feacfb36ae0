"""The five ticketing services, each a FastAPI app and a gRPC server over one domain store.

`BUILDERS[name](dependencies)` assembles a service; `labs.components.ticketing.serve` runs it.

Layer: components.
"""
from __future__ import annotations

from typing import Callable

from . import concerts, notifications, orders, payments, users
from .common import Dependencies, Service

BUILDERS: dict[str, Callable[[Dependencies], Service]] = {
    "users": users.build,
    "concerts": concerts.build,
    "payments": payments.build,
    "notifications": notifications.build,
    "orders": orders.build,
}
