"""The users service: who the customers are and how many credits they have.

Layer: components.
"""
from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ....protos import ticketing_pb2 as pb
from ....protos import ticketing_pb2_grpc as pb_grpc
from ..domain import MAX_NAME, User, UserStore
from ..remote import as_message
from .common import Amount, Body, Dependencies, Service, errors, id_in_path, new_app, rpc

UserId = Annotated[str, id_in_path("u1")]


class Debit(Body):
    amount: Amount = Field(examples=[40])


ProfileText = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]


class Profile(Body):
    """Every field of a user a client may write (the balance is not one: it changes by debit)."""
    name: ProfileText = Field(examples=["Ada King"])
    email: ProfileText = Field(examples=["ada@example.org"])


class ProfileChange(Body):
    """Some of the profile's fields; the ones left out keep their value."""
    name: ProfileText | None = Field(default=None, examples=["Ada King"])
    email: ProfileText | None = Field(default=None, examples=["ada@example.org"])


class UsersServicer(pb_grpc.UsersServicer):
    service = "users"

    def __init__(self, store: UserStore):
        self.store = store

    @rpc
    def GetUser(self, request, context):
        return as_message(pb.User, self.store.get_user(request.user_id))

    @rpc
    def Debit(self, request, context):
        return as_message(pb.User, self.store.debit(request.user_id, request.amount))


def build(dependencies: Dependencies) -> Service:
    store = UserStore()
    app = new_app("users", "Customers and their balances", reset=store.reset)

    @app.get("/users/{user_id}", responses=errors(404), tags=["users"])
    def get_user(user_id: UserId) -> User:
        return store.get_user(user_id)

    @app.put("/users/{user_id}", responses=errors(404), tags=["users"])
    def replace_profile(user_id: UserId, body: Profile) -> User:
        """Replace the profile: every writable field is sent, so sending it twice changes nothing more."""
        return store.update_profile(user_id, **body.model_dump())

    @app.patch("/users/{user_id}", responses=errors(404), tags=["users"])
    def change_profile(user_id: UserId, body: ProfileChange) -> User:
        """Change only the fields sent (422 when none is)."""
        return store.update_profile(user_id, **body.model_dump(exclude_none=True))

    @app.post("/users/{user_id}/debit", responses=errors(404, 409), tags=["users"])
    def debit(user_id: UserId, body: Debit) -> User:
        """Take credits from the balance, all or nothing (409 when it is too low)."""
        return store.debit(user_id, body.amount)

    servicer = UsersServicer(store)
    return Service("users", app, [(pb_grpc.add_UsersServicer_to_server, servicer, "ticketing.v1.Users")],
                   dependencies)
