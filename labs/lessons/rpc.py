"""gRPC as lessons 05 and 05b show it: the contract compiled to code, the four call patterns on the
concerts service, and what gRPC looks like to a plain HTTP client (its 5-byte message frames).

    concerts = rpc.concerts_stub(lab)                       # a ConcertsStub on one kept channel
    rpc.get_concert(concerts, "c1")                         # unary
    rpc.watch_seats(concerts, "c2", updates=3)              # server streaming: an iterator of SeatCount
    rpc.reserve_group(concerts, "c1", ["u1", "u2"])         # client streaming: all seats or none
    rpc.check_seats(concerts, ["c1", "c2"])                 # bidirectional: one answer per question
    files = rpc.compile_proto(rpc.PROTO, out_dir)           # what grpcio-tools makes of a .proto
    old = rpc.message_classes(old_proto_text)               # an old contract's messages, side by side
    rpc.serve(servicer, add_to_server) as address           # a gRPC server in this process, on loopback

Layer: lessons.
"""
from __future__ import annotations

import contextlib
import queue
import tempfile
from concurrent import futures
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import grpc

from ..protos import ticketing_pb2 as pb
from ..protos import ticketing_pb2_grpc as pb_grpc

PROTO = Path(pb.__file__).with_name("ticketing.proto")
TIMEOUT = 5.0  # seconds; bounds a hung call, never reached on loopback


def channel(lab: Any, name: str = "concerts", address: str | None = None) -> grpc.Channel:
    """A channel to a service's gRPC port (or to `address`, e.g. a chaos proxy in front of it)."""
    return grpc.insecure_channel(address or lab.endpoint(name)["grpc"])


def concerts_stub(lab: Any, address: str | None = None) -> pb_grpc.ConcertsStub:
    return pb_grpc.ConcertsStub(channel(lab, "concerts", address))


# ---- the four patterns, in order of difficulty --------------------------------------------------

def get_concert(stub: pb_grpc.ConcertsStub, concert_id: str, timeout: float = TIMEOUT) -> pb.Concert:
    """Unary: one request, one answer."""
    return stub.GetConcert(pb.GetConcertRequest(concert_id=concert_id), timeout=timeout)


def watch_seats(stub: pb_grpc.ConcertsStub, concert_id: str, updates: int,
                timeout: float = TIMEOUT) -> Iterator[pb.SeatCount]:
    """Server streaming: the seat count now, then one message per change, `updates` in all."""
    return stub.WatchSeats(pb.WatchSeatsRequest(concert_id=concert_id, updates=updates), timeout=timeout)


def reserve_group(stub: pb_grpc.ConcertsStub, concert_id: str, user_ids: Iterable[str],
                  timeout: float = TIMEOUT) -> pb.ReservationBatch:
    """Client streaming: one request per seat, one answer for the group (all seats or none)."""
    requests = (pb.ReserveRequest(concert_id=concert_id, user_id=user) for user in user_ids)
    return stub.ReserveMany(requests, timeout=timeout)


def check_seats(stub: pb_grpc.ConcertsStub, concert_ids: Iterable[str],
                timeout: float = TIMEOUT) -> Iterator[pb.Concert]:
    """Bidirectional streaming: the questions go out as the iterator yields them; the answers
    come back on the same stream, each as soon as it is ready."""
    return stub.CheckSeats((pb.GetConcertRequest(concert_id=c) for c in concert_ids), timeout=timeout)


class SeatChecker:
    """One bidirectional CheckSeats stream kept open: `ask(concert_id)` sends one question and waits
    for its answer (a ping-pong on an open stream, no new call per question). Not thread-safe:
    one per caller."""

    def __init__(self, stub: pb_grpc.ConcertsStub, timeout: float = 600.0):
        self._questions: queue.SimpleQueue = queue.SimpleQueue()
        self._answers = stub.CheckSeats(iter(self._questions.get, None), timeout=timeout)

    def ask(self, concert_id: str) -> pb.Concert:
        self._questions.put(pb.GetConcertRequest(concert_id=concert_id))
        return next(self._answers)

    def close(self) -> None:
        self._questions.put(None)  # ends the request stream; the server then ends its answers
        self._answers.cancel()


# ---- the contract, compiled ------------------------------------------------------------------------

def compile_proto(proto: str | Path, out_dir: str | Path) -> list[Path]:
    """Run protoc (grpcio-tools) on a .proto file, or on .proto text, into `out_dir`: messages
    (_pb2.py), their type hints (_pb2.pyi) and the client stub + servicer base (_pb2_grpc.py)."""
    import grpc_tools
    from grpc_tools import protoc

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    source = Path(proto) if isinstance(proto, Path) else None
    if source is None:
        if not isinstance(proto, str) or "syntax" not in proto:
            raise ValueError("proto must be a path to a .proto file or .proto text starting with a syntax line")
        source = out_dir / "contract.proto"
        source.write_text(proto)
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    # google/api/*.proto: the lab's contract imports the HTTP annotations (lesson 08's gateway)
    import google.api.annotations_pb2
    googleapis = Path(google.api.annotations_pb2.__file__).parents[2]
    code = protoc.main(["grpc_tools.protoc", f"-I{source.parent}", f"-I{well_known}", f"-I{googleapis}",
                        f"--python_out={out_dir}",
                        f"--pyi_out={out_dir}", f"--grpc_python_out={out_dir}", str(source)])
    if code != 0:
        raise ValueError(f"protoc rejected {source.name} (exit code {code}); its message is printed above")
    return sorted(out_dir.glob(f"{source.stem}_pb2*"))


def message_classes(proto_text: str) -> dict[str, type]:
    """The message classes of a contract, compiled now into a private descriptor pool, so an old and a
    new version of the same package can live side by side in one process (the generated modules
    would both claim the global pool). Keyed by short name: {"Concert": <class>, ...}."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory(prefix="labs-proto-") as tmp:
        source, descriptor_set = Path(tmp) / "contract.proto", Path(tmp) / "contract.pb"
        source.write_text(proto_text)
        if protoc.main(["grpc_tools.protoc", f"-I{tmp}", f"--descriptor_set_out={descriptor_set}", str(source)]):
            raise ValueError("protoc rejected the contract; its message is printed above")
        files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    found = {}
    for file in files.file:
        for message in file.message_type:
            full = f"{file.package}.{message.name}" if file.package else message.name
            found[message.name] = message_factory.GetMessageClass(pool.FindMessageTypeByName(full))
    return found


def unary_call(channel: grpc.Channel, method: str, request_cls: type, response_cls: type) -> Callable:
    """A callable for one unary method by its path ("/ticketing.v1.Concerts/GetConcert"), with
    the message classes you choose: what a generated stub does, without the generated stub."""
    return channel.unary_unary(method, request_serializer=request_cls.SerializeToString,
                               response_deserializer=response_cls.FromString)


# ---- a server in this process (the exercise, contract evolution) ---------------------------------

@contextlib.contextmanager
def serve(servicer: Any, add_to_server: Callable[[Any, grpc.Server], None],
          workers: int = 4) -> Iterator[str]:
    """Serve `servicer` on a free loopback port for the block; yields "127.0.0.1:PORT". The server's
    threads are the kernel's own: they stop with the block, and at the latest with the kernel."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lesson-grpc"))
    add_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    if port == 0:
        raise OSError("cannot listen on a loopback port for the gRPC server")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=0.5).wait()


# ---- gRPC on the wire, seen by a plain HTTP client ----------------------------------------------

def grpc_frame(message: Any) -> bytes:
    """A gRPC message on the wire: 1 byte "compressed?" flag, 4 bytes big-endian length, the bytes."""
    body = message.SerializeToString()
    return b"\x00" + len(body).to_bytes(4, "big") + body


def grpc_unframe(data: bytes, message_cls: type) -> Any:
    """The first message of a gRPC body (the inverse of `grpc_frame`)."""
    if len(data) < 5:
        raise ValueError(f"a gRPC message needs a 5-byte prefix; got {len(data)} bytes")
    length = int.from_bytes(data[1:5], "big")
    return message_cls.FromString(data[5:5 + length])
