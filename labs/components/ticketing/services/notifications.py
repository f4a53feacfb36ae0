"""The notifications service: messages to customers (recorded here instead of e-mailed).

Layer: components.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import Field

from ....protos import ticketing_pb2 as pb
from ....protos import ticketing_pb2_grpc as pb_grpc
from ..domain import ID_PATTERN, MAX_MESSAGE, Notification, NotificationStore
from ..remote import as_message
from .common import Body, Dependencies, Id, Service, new_app, rpc


class Notify(Body):
    user_id: Id = Field(examples=["u1"])
    message: Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE)]


class NotificationsServicer(pb_grpc.NotificationsServicer):
    service = "notifications"

    def __init__(self, store: NotificationStore):
        self.store = store

    @rpc
    def Notify(self, request, context):
        return as_message(pb.Notification, self.store.notify(request.user_id, request.message))

    @rpc
    def List(self, request, context):
        sent = self.store.list_notifications(request.user_id or None)
        return pb.NotificationList(notifications=[as_message(pb.Notification, n) for n in sent])


def build(dependencies: Dependencies) -> Service:
    store = NotificationStore()
    app = new_app("notifications", "Messages sent to customers", reset=store.reset)

    @app.post("/notifications", status_code=201, tags=["notifications"])
    def notify(body: Notify) -> Notification:
        return store.notify(body.user_id, body.message)

    @app.get("/notifications", tags=["notifications"])
    def list_notifications(
            user_id: Annotated[str | None, Query(pattern=ID_PATTERN, description="only this user's")] = None,
    ) -> list[Notification]:
        return store.list_notifications(user_id)

    servicer = NotificationsServicer(store)
    return Service("notifications", app,
                   [(pb_grpc.add_NotificationsServicer_to_server, servicer, "ticketing.v1.Notifications")],
                   dependencies)
