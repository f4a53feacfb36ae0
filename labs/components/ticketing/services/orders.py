"""The orders service: places an order by calling users, concerts, payments and notifications.

The flow is domain.OrderService, the same code the Monolith runs. Here its collaborators are
remote: the REST API's calls go out over REST, the gRPC API's over gRPC.

Layer: components.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import Header, Response
from pydantic import Field

from ....protos import ticketing_pb2 as pb
from ....protos import ticketing_pb2_grpc as pb_grpc
from ..domain import IDEMPOTENCY_KEY_PATTERN, Order, OrderBook, OrderService
from ..remote import (GrpcConcerts, GrpcNotifications, GrpcPayments, GrpcUsers, RestConcerts,
                      RestNotifications, RestPayments, RestUsers, as_message)
from .common import Body, Dependencies, Id, Service, errors, id_in_path, new_app, rpc

OrderId = Annotated[str, id_in_path("o1")]
IdempotencyKey = Annotated[str | None, Header(
    pattern=IDEMPOTENCY_KEY_PATTERN, examples=["3f2b9c1e-order-1"],
    description="Send the same key when you retry: the order is placed once, the retry gets it back")]
REPLAYED = "idempotent-replayed"  # response header / gRPC trailer: "true" when a retry got the first order
IDEMPOTENCY_METADATA = "idempotency-key"


class PlaceOrder(Body):
    user_id: Id = Field(examples=["u1"])
    concert_id: Id = Field(examples=["c1"])


class OrdersServicer(pb_grpc.OrdersServicer):
    service = "orders"

    def __init__(self, orders: OrderService):
        self.orders = orders

    @rpc
    def PlaceOrder(self, request, context):
        key = dict(context.invocation_metadata()).get(IDEMPOTENCY_METADATA)
        order, replayed = self.orders.place_order_once(request.user_id, request.concert_id, key)
        context.set_trailing_metadata([(REPLAYED, str(replayed).lower())])
        return as_message(pb.Order, order)

    @rpc
    def GetOrder(self, request, context):
        return as_message(pb.Order, self.orders.get_order(request.order_id))


def build(dependencies: Dependencies) -> Service:
    book = OrderBook()  # one order book, whichever transport placed the order
    over_rest = OrderService(
        book, users=RestUsers(dependencies.rest("users")), concerts=RestConcerts(dependencies.rest("concerts")),
        payments=RestPayments(dependencies.rest("payments")),
        notifications=RestNotifications(dependencies.rest("notifications")))
    over_grpc = OrderService(
        book, users=GrpcUsers(dependencies.grpc("users")), concerts=GrpcConcerts(dependencies.grpc("concerts")),
        payments=GrpcPayments(dependencies.grpc("payments")),
        notifications=GrpcNotifications(dependencies.grpc("notifications")))
    app = new_app("orders", "Places orders: user, seat, payment, notification", reset=book.reset)

    @app.post("/orders", status_code=201, responses=errors(404, 409, 503), tags=["orders"])
    def place_order(body: PlaceOrder, response: Response, idempotency_key: IdempotencyKey = None) -> Order:
        """Check the user, reserve a seat, charge, notify. When the charge fails the seat is
        released again; 503 names a service that could not be reached. With an Idempotency-Key,
        a retry returns the order the first request placed (header Idempotent-Replayed: true)."""
        order, replayed = over_rest.place_order_once(body.user_id, body.concert_id, idempotency_key)
        response.headers[REPLAYED] = str(replayed).lower()
        return order

    @app.get("/orders/{order_id}", responses=errors(404), tags=["orders"])
    def get_order(order_id: OrderId) -> Order:
        return over_rest.get_order(order_id)

    servicer = OrdersServicer(over_grpc)
    return Service("orders", app, [(pb_grpc.add_OrdersServicer_to_server, servicer, "ticketing.v1.Orders")],
                   dependencies)
