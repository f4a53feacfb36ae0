"""The concerts service: what is on, and who holds which seat.

Layer: components.
"""
from __future__ import annotations

import dataclasses
import hashlib
from typing import Annotated

from fastapi import Request, Response
from pydantic import Field

from ....protos import ticketing_pb2 as pb
from ....protos import ticketing_pb2_grpc as pb_grpc
from ..domain import Concert, ConcertStore, Invalid, Reservation
from ..remote import as_message
from .common import Body, Dependencies, Id, Service, errors, id_in_path, new_app, rpc, rpc_stream

MAX_UPDATES = 1000  # WatchSeats: updates one stream may ask for
MAX_GROUP = 100  # ReserveMany: seats one group booking may hold
WAKE_S = 0.5  # how often a waiting WatchSeats looks whether its caller has gone
# GET /concerts/{id} may be cached this long: a seat count a second old is fine for a listing, and
# after that a client revalidates with the ETag (a 304 without a body when nothing changed).
CACHE_SECONDS = 10
NOT_MODIFIED = {304: {"description": "Not Modified: the copy named by If-None-Match is current"}}

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

    @rpc_stream
    def WatchSeats(self, request, context):
        if not 1 <= request.updates <= MAX_UPDATES:
            raise Invalid(f"updates must be from 1 to {MAX_UPDATES} (got {request.updates})")
        concert = self.store.get_concert(request.concert_id)
        yield pb.SeatCount(concert_id=concert.id, seats_left=concert.seats_left)
        for _ in range(request.updates - 1):
            seen = concert.seats_left
            while context.is_active() and concert.seats_left == seen:  # until a change, or the caller leaves
                concert = self.store.wait_for_change(concert.id, seen, WAKE_S)
            if not context.is_active():
                return
            yield pb.SeatCount(concert_id=concert.id, seats_left=concert.seats_left)

    @rpc
    def ReserveMany(self, request_iterator, context):
        def seats():
            for number, request in enumerate(request_iterator, start=1):
                if number > MAX_GROUP:
                    raise Invalid(f"a group booking holds 1 to {MAX_GROUP} seats")
                yield request.concert_id, request.user_id

        held = self.store.reserve_many(seats())
        if not held:
            raise Invalid(f"a group booking holds 1 to {MAX_GROUP} seats (got none)")
        return pb.ReservationBatch(reservations=[as_message(pb.Reservation, r) for r in held])

    @rpc_stream
    def CheckSeats(self, request_iterator, context):
        for request in request_iterator:
            yield as_message(pb.Concert, self.store.get_concert(request.concert_id))


def etag(concert: Concert) -> str:
    """A strong validator: it changes whenever any field of the concert does."""
    return '"' + hashlib.blake2s(repr(dataclasses.astuple(concert)).encode(), digest_size=8).hexdigest() + '"'


def matches(if_none_match: str | None, tag: str) -> bool:
    """Does an If-None-Match header name `tag` (a list of tags, weak ones too, or "*")?"""
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or tag in tags


def build(dependencies: Dependencies) -> Service:
    store = ConcertStore()
    app = new_app("concerts", "Concerts and their seats", reset=store.reset)

    @app.get("/concerts", tags=["concerts"])
    def list_concerts() -> list[Concert]:
        """Every concert: the collection resource."""
        return store.list_concerts()

    @app.get("/concerts/{concert_id}", responses={**errors(404), **NOT_MODIFIED}, tags=["concerts"])
    def get_concert(concert_id: ConcertId, request: Request, response: Response) -> Concert:
        """One concert, with an ETag and Cache-Control: max-age, so HTTP caches can keep it."""
        concert = store.get_concert(concert_id)
        headers = {"ETag": etag(concert), "Cache-Control": f"max-age={CACHE_SECONDS}"}
        if matches(request.headers.get("if-none-match"), headers["ETag"]):
            return Response(status_code=304, headers=headers)  # the client's copy is current
        response.headers.update(headers)
        return concert

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
