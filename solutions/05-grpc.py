"""Solutions to the exercises of notebooks/05-grpc.ipynb."""

# %% Exercise 05.1: a server-streaming waiting room
import grpc

from labs.protos import ticketing_pb2 as pb
from labs.protos import ticketing_pb2_grpc as pb_grpc


class WaitingRoom(pb_grpc.WaitingRoomServicer):
    def Join(self, request, context):
        if not 0 <= request.ahead <= 100:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"ahead must be from 0 to 100, got {request.ahead}")
        for ahead in range(request.ahead, -1, -1):
            yield pb.QueuePosition(ahead=ahead)
