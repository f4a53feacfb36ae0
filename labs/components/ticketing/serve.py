"""Run one ticketing service: its gRPC server and its FastAPI app in one process.

    python -m labs.components.ticketing.serve orders --host 127.0.0.1 --http-port 8001 --grpc-port 9001

The lab runtime starts it like this (components.py) and gives it the addresses of the services it
calls in LABS_DEPENDENCIES. gRPC starts first, in its own thread pool, so by the time /health
answers (the runtime's readiness probe) both faces of the service are up.

Layer: components.
"""
from __future__ import annotations

import argparse
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ... import tracing
from ..registry import agent
from .services import BUILDERS
from .services.common import Dependencies, Service
from .services.faults import FaultInterceptor

GRPC_WORKERS = 16  # concurrent RPCs; a call blocks its worker while it waits on a downstream


def start_grpc(service: Service, host: str, port: int) -> grpc.Server:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=GRPC_WORKERS, thread_name_prefix=service.name),
                         interceptors=[*tracing.grpc_server_interceptors(service.name),
                                       FaultInterceptor(service.app.state.faults)])
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME]
    for add_to_server, servicer, full_name in service.grpc_services:
        add_to_server(servicer, server)
        names.append(full_name)
    reflection.enable_server_reflection(names, server)  # so grpcurl and friends can list the API
    if server.add_insecure_port(f"{host}:{port}") == 0:
        raise OSError(f"{service.name}: cannot listen on {host}:{port}")
    server.start()
    for name in ["", *(full_name for _, _, full_name in service.grpc_services)]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run one ticketing service (REST and gRPC).")
    parser.add_argument("name", choices=sorted(BUILDERS))
    parser.add_argument("--host", default="127.0.0.1", help="the only address to listen on")
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--grpc-port", type=int, required=True)
    args = parser.parse_args(argv)

    tracing.set_component(args.name)
    service = BUILDERS[args.name](Dependencies.from_env(args.name))
    grpc_server = start_grpc(service, args.host, args.grpc_port)
    print(f"{args.name}: gRPC on {args.host}:{args.grpc_port}, HTTP on http://{args.host}:{args.http_port}",
          flush=True)
    # Lesson 07: with LABS_REGISTER_TTL the service puts itself in etcd once it listens.
    registration = agent.from_env(args.name, {"http": f"http://{args.host}:{args.http_port}",
                                              "grpc": f"{args.host}:{args.grpc_port}"})
    try:
        # One worker: the service's state lives in this process. uvicorn handles SIGTERM/SIGINT
        # (after deregistering, when registered).
        agent.serve(service.app, args.host, args.http_port, registration)
    finally:
        grpc_server.stop(grace=1).wait()
        service.dependencies.close()


if __name__ == "__main__":
    main()
