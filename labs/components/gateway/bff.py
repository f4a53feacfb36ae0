"""The mobile BFF ("backend for frontend"): one request per app screen, answered from three services.

    python -m labs.components.gateway.bff --host 127.0.0.1 --http-port 8010

    GET /v1/screens/orders/{order_id}                  the order screen: the order (orders), the
                                                       customer (users) and their messages
                                                       (notifications), asked in parallel over gRPC
    GET /v1/screens/orders/{order_id}?sequential=true  the same three calls one after another
    GET /v1/screens/me                                 who the gateway says is calling (its headers)

Layer: components. It sits behind the API gateway and trusts it: the caller's identity is the
x-user-id header the gateway sets from a verified token, never something the app sends (the
gateway drops such headers), so this service must only be reachable through the gateway. A screen
for an order of another customer is a 403. Same shape as a ticketing service: FastAPI with /health,
/admin/faults and traced calls; the services it calls come in LABS_DEPENDENCIES.
"""
from __future__ import annotations

import argparse
import base64
import contextvars
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Callable

from fastapi import Header, Query
from fastapi.responses import JSONResponse

from ... import tracing
from ...protos import ticketing_pb2 as pb
from ...protos import ticketing_pb2_grpc as pb_grpc
from ..ticketing.domain import Invalid
from ..ticketing.services.common import Dependencies, id_in_path, new_app

CALLS = 3  # one per service the order screen needs


def _decode_payload(header: str | None) -> dict[str, Any]:
    """The token's claims as the gateway forwarded them (base64url JSON, already verified there)."""
    if not header:
        return {}
    try:
        return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except ValueError:
        return {}


def build(dependencies: Dependencies):
    orders, users, notifications = (dependencies.grpc(n) for n in ("orders", "users", "notifications"))
    pool = ThreadPoolExecutor(max_workers=4 * CALLS, thread_name_prefix="bff")
    app = new_app("bff", "The mobile app's screens, one request each", reset=lambda: None)

    def run(calls: list[Callable[[], Any]], parallel: bool) -> list[Any]:
        if not parallel:
            return [call() for call in calls]
        # Each call in its own copy of this request's context, so its span joins the request's trace.
        futures = [pool.submit(contextvars.copy_context().run, call) for call in calls]
        return [f.result() for f in futures]

    @app.get("/v1/screens/orders/{order_id}", tags=["screens"])
    def order_screen(order_id: Annotated[str, id_in_path("o1")],
                     sequential: Annotated[bool, Query(description="ask the three services in turn")] = False,
                     x_user_id: Annotated[str | None, Header()] = None) -> Any:
        if not x_user_id:
            return JSONResponse({"error": "unauthenticated", "detail": "no x-user-id header: the BFF answers "
                                 "only requests that came through the API gateway"}, 401)
        started = time.perf_counter()
        order, user, sent = run([
            lambda: orders.call(pb_grpc.OrdersStub, "GetOrder", pb.GetOrderRequest(order_id=order_id)),
            lambda: users.call(pb_grpc.UsersStub, "GetUser", pb.GetUserRequest(user_id=x_user_id)),
            lambda: notifications.call(pb_grpc.NotificationsStub, "List",
                                       pb.ListNotificationsRequest(user_id=x_user_id)),
        ], parallel=not sequential)
        if order.user_id != x_user_id:
            return JSONResponse({"error": "forbidden", "detail": f"order {order_id} is not {x_user_id}'s"}, 403)
        return {
            "order": {"id": order.id, "status": order.status, "amount": order.amount, "concert_id": order.concert_id},
            "customer": {"name": user.name, "balance": user.balance},
            "messages": [n.message for n in sent.notifications][-3:],
            "backend_calls": CALLS, "fetched": "in sequence" if sequential else "in parallel",
            "backend_ms": round((time.perf_counter() - started) * 1000, 2),
        }

    @app.get("/v1/screens/me", tags=["screens"])
    def me(x_user_id: Annotated[str | None, Header()] = None, x_client_id: Annotated[str | None, Header()] = None,
           x_jwt_payload: Annotated[str | None, Header()] = None,
           authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        """What this service learns about the caller, all of it from headers the gateway set."""
        if not x_user_id:
            raise Invalid("no x-user-id header: call the BFF through the API gateway")
        return {"user_id": x_user_id, "client_id": x_client_id, "claims": _decode_payload(x_jwt_payload),
                "saw_the_token": authorization is not None}

    return app, dependencies


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Run the mobile BFF.")
    parser.add_argument("--host", default="127.0.0.1", help="the only address to listen on")
    parser.add_argument("--http-port", type=int, required=True)
    args = parser.parse_args(argv)
    tracing.set_component("bff")
    app, dependencies = build(Dependencies.from_env("bff"))
    print(f"bff: HTTP on http://{args.host}:{args.http_port}", flush=True)
    try:
        uvicorn.run(app, host=args.host, port=args.http_port, workers=1, log_level="warning")
    finally:
        dependencies.close()


if __name__ == "__main__":
    main()
