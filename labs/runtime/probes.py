"""Readiness probes for the lab's own services: HTTP GET /health and the standard gRPC health check.

Layer: runtime.
"""
from __future__ import annotations


def http_health(base_url: str, timeout: float = 2.0) -> None:
    """Raise unless GET {base_url}/health answers 2xx."""
    import httpx
    httpx.get(base_url.rstrip("/") + "/health", timeout=timeout).raise_for_status()


def grpc_health(target: str, service: str = "", timeout: float = 2.0) -> None:
    """Raise unless the gRPC health service at `target` ("host:port") reports SERVING."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    if answer.status != health_pb2.HealthCheckResponse.SERVING:
        raise ConnectionError(f"gRPC health of {target!r} is {health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)}")
