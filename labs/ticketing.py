"""`from labs.ticketing import ...`: the running example as lessons use it (see
labs.components.ticketing.clients). Imported on demand: it loads grpc, httpx and protobuf."""
from .components.ticketing.clients import (Conflict, DomainError, GrpcTicketing, Invalid, Monolith,  # noqa: F401
                                           NotFound, RestTicketing, Unavailable)

__all__ = ["Conflict", "DomainError", "GrpcTicketing", "Invalid", "Monolith", "NotFound", "RestTicketing",
           "Unavailable"]
