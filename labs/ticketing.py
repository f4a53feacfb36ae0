"""`from labs.ticketing import ...`: the running example as lessons use it (see
labs.components.ticketing.clients, and .faults for FaultRules). Imported on demand: it loads grpc,
httpx and protobuf."""
from .components.ticketing.clients import (Conflict, DomainError, GrpcTicketing, Invalid, Monolith,  # noqa: F401
                                           NotFound, RestTicketing, Unavailable)
from .components.ticketing.faults import FaultRules  # noqa: F401

__all__ = ["Conflict", "DomainError", "FaultRules", "GrpcTicketing", "Invalid", "Monolith", "NotFound",
           "RestTicketing", "Unavailable"]
