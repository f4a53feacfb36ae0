"""Lesson 05: write a server-streaming RPC; the check serves it and calls it over the network.

Layer: exercises.
"""
from __future__ import annotations

import inspect

from ..tools.check import NotYet, register_exercise

MAX_AHEAD = 100


@register_exercise("05.1", "a server-streaming waiting room", answer="WaitingRoom")
def check_waiting_room(WaitingRoom, lab) -> str:
    import grpc

    from ..lessons import rpc
    from ..protos import ticketing_pb2 as pb
    from ..protos import ticketing_pb2_grpc as pb_grpc

    if not isinstance(WaitingRoom, type) or not issubclass(WaitingRoom, pb_grpc.WaitingRoomServicer):
        raise NotYet("define a class `WaitingRoom(pb_grpc.WaitingRoomServicer)` with a method `Join`")
    if not inspect.isgeneratorfunction(WaitingRoom.Join):
        # Not a generator: calling it runs it, so a stub's NotImplementedError shows up here, where the
        # learner gets the plain hint, instead of as a server error in a thread.
        try:
            WaitingRoom().Join(pb.JoinRequest(user_id="u1", ahead=0), None)
        except NotImplementedError:
            raise
        except Exception:
            pass

    def join(stub, ahead: int) -> list[int]:
        stream = stub.Join(pb.JoinRequest(user_id="u1", ahead=ahead), timeout=5)
        return [position.ahead for position in stream]

    with rpc.serve(WaitingRoom(), pb_grpc.add_WaitingRoomServicer_to_server) as address, \
            grpc.insecure_channel(address) as channel:
        stub = pb_grpc.WaitingRoomStub(channel)
        try:
            positions = {ahead: join(stub, ahead) for ahead in (5, 0)}
        except grpc.RpcError as err:
            raise NotYet(f"Join failed with {err.code().name}: {err.details()} (the server's traceback is "
                         "printed above); a streaming method yields its messages") from None
        refused = {}
        for ahead in (-1, MAX_AHEAD + 1):
            try:
                join(stub, ahead)
                refused[ahead] = "OK"
            except grpc.RpcError as err:
                refused[ahead] = err.code().name
    for ahead, got in positions.items():
        if got != list(range(ahead, -1, -1)):
            raise NotYet(f"Join(ahead={ahead}) streamed {got}; expected one message per step: "
                         f"{list(range(ahead, -1, -1))}")
    if set(refused.values()) != {"INVALID_ARGUMENT"}:
        raise NotYet(f"ahead outside 0..{MAX_AHEAD} must end the call with INVALID_ARGUMENT "
                     f"(context.abort); got {refused}")
    return (f"served on {address}, Join(ahead=5) streamed {positions[5]} over the network, and ahead=-1 and "
            f"{MAX_AHEAD + 1} were refused with INVALID_ARGUMENT.")
