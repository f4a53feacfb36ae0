"""The concerts service: what is on, and who holds which seat."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ....protos import ticketing_pb2 as pb
from ....protos import ticketing_pb2_grpc as pb_grpc
from ..domain import Concert, ConcertStore, Reservation
from ..remote import as_message
from .common import Body, Dependencies, Id, Service, errors, id_in_path, new_app, rpc

ConcertId = Annotated[str, id_in_path("c1")]
ReservationId = Annotated[str, id_in_path("r1")]


class Reserve(Body):
    user_id: Id = Field(examples=["u1"])


class ConcertsServicer(pb_grpc.ConcertsServicer):
    service = "concerts"

    def __init__(self, store: ConcertStore):
        self.store = store

    @rpc
    def GetConcert(self, request, context):
        return as_message(pb.Concert, self.store.get_concert(request.concert_id))

    @rpc
    def Reserve(self, request, context):
        return as_message(pb.Reservation, self.store.reserve(request.concert_id, request.user_id))

    @rpc
    def Release(self, request, context):
        return as_message(pb.Concert, self.store.release(request.concert_id, request.reservation_id))


def build(dependencies: Dependencies) -> Service:
    store = ConcertStore()
    app = new_app("concerts", "Concerts and their seats", reset=store.reset)

    @app.get("/concerts/{concert_id}", responses=errors(404), tags=["concerts"])
    def get_concert(concert_id: ConcertId) -> Concert:
        return store.get_concert(concert_id)

    @app.post("/concerts/{concert_id}/reservations", status_code=201, responses=errors(404, 409),
              tags=["concerts"])
    def reserve(concert_id: ConcertId, body: Reserve) -> Reservation:
        """Hold one seat (409 when the concert is sold out)."""
        return store.reserve(concert_id, body.user_id)

    @app.delete("/concerts/{concert_id}/reservations/{reservation_id}", responses=errors(404),
                tags=["concerts"])
    def release(concert_id: ConcertId, reservation_id: ReservationId) -> Concert:
        """Give the seat back: the compensation when a payment fails."""
        return store.release(concert_id, reservation_id)

    servicer = ConcertsServicer(store)
    return Service("concerts", app,
                   [(pb_grpc.add_ConcertsServicer_to_server, servicer, "ticketing.v1.Concerts")], dependencies)
