"""Lesson 05: the streaming RPCs of the concerts service, the contract helpers, the showdown, and
checks that fail when the mechanism they show is taken away."""
import queue

import grpc
import httpx
import pytest
from lesson_cells import run_cells

import labs
from labs import chaos
from labs.lessons import rpc, showdown
from labs.protos import ticketing_pb2 as pb
from labs.protos import ticketing_pb2_grpc as pb_grpc
from labs import bench, check


@pytest.fixture(scope="module")
def lab():
    lab = labs.start("concerts", progress=False)
    yield lab


@pytest.fixture
def concerts(lab):
    httpx.post(lab.endpoint("concerts")["http"] + "/admin/reset").raise_for_status()
    channel = rpc.channel(lab)
    yield pb_grpc.ConcertsStub(channel)
    channel.close()


def _code(call) -> str:
    try:
        call()
        return "OK"
    except grpc.RpcError as err:
        return err.code().name


def test_watch_seats_pushes_each_change(concerts):
    feed = rpc.watch_seats(concerts, "c2", updates=2)
    first = next(feed).seats_left
    concerts.Reserve(pb.ReserveRequest(concert_id="c2", user_id="u1"), timeout=5)
    assert [first, next(feed).seats_left] == [200, 199]
    assert list(feed) == []  # two updates asked, two sent, then the stream ends


def test_watch_seats_refuses_out_of_range_updates_and_unknown_concerts(concerts):
    assert _code(lambda: list(rpc.watch_seats(concerts, "c1", updates=0))) == "INVALID_ARGUMENT"
    assert _code(lambda: list(rpc.watch_seats(concerts, "c1", updates=1001))) == "INVALID_ARGUMENT"
    assert _code(lambda: list(rpc.watch_seats(concerts, "c99", updates=1))) == "NOT_FOUND"


def test_watch_seats_ends_at_the_deadline_when_nothing_changes(concerts):
    assert _code(lambda: list(rpc.watch_seats(concerts, "c1", updates=5, timeout=0.3))) == "DEADLINE_EXCEEDED"


def test_reserve_many_is_all_or_nothing(concerts):
    assert _code(lambda: rpc.reserve_group(concerts, "c3", ["u1", "u2", "u3"])) == "FAILED_PRECONDITION"
    assert rpc.get_concert(concerts, "c3").seats_left == 2
    assert len(rpc.reserve_group(concerts, "c3", ["u1", "u2"]).reservations) == 2
    assert _code(lambda: rpc.reserve_group(concerts, "c1", [])) == "INVALID_ARGUMENT"
    assert _code(lambda: rpc.reserve_group(concerts, "c1", ["u1"] * 101)) == "INVALID_ARGUMENT"
    assert rpc.get_concert(concerts, "c1").seats_left == 100_000
    assert _code(lambda: rpc.reserve_group(concerts, "c1", ["U 1"])) == "INVALID_ARGUMENT"


def test_check_seats_answers_in_order_and_fails_on_a_bad_id(concerts):
    assert [c.id for c in rpc.check_seats(concerts, ["c3", "c1", "c2"])] == ["c3", "c1", "c2"]
    assert _code(lambda: list(rpc.check_seats(concerts, ["c1", "c99"]))) == "NOT_FOUND"
    checker = rpc.SeatChecker(concerts)
    assert [checker.ask(c).id for c in ("c1", "c2", "c1")] == ["c1", "c2", "c1"]
    checker.close()


BIDI = ["def one_question_at_a_time", "each answer came back on the open stream"]  # the lesson's cells


class ReadsEveryQuestionFirst(pb_grpc.ConcertsServicer):
    """A CheckSeats that collects the whole request stream before it answers anything."""

    def CheckSeats(self, request_iterator, context):
        questions = list(request_iterator)
        for question in questions:
            yield pb.Concert(id=question.concert_id, seats_left=1)


def test_the_bidirectional_claim_holds_and_fails_against_a_server_that_reads_everything_first(concerts):
    scope = {"concerts": concerts, "pb": pb, "grpc": grpc, "check": check}
    assert run_cells("05-grpc", BIDI, **scope)["timeline"][-1].startswith("got c3")
    with rpc.serve(ReadsEveryQuestionFirst(), pb_grpc.add_ConcertsServicer_to_server) as address, \
            grpc.insecure_channel(address) as channel:
        scope["concerts"] = pb_grpc.ConcertsStub(channel)
        with pytest.raises(check.ClaimNotShown, match="before the next question"):
            run_cells("05-grpc", BIDI, **scope)  # the first question waits: DEADLINE_EXCEEDED


def test_interleaved_runs_carry_client_and_server_cpu_and_rest_costs_more(lab):
    with showdown.Contenders(lab) as contenders:
        runs = showdown.interleaved(lab, contenders, n=60, rounds=3, progress=False)
        with pytest.raises(ValueError, match="labels must be some of"):
            showdown.interleaved(lab, contenders, n=10, labels=["SOAP"])
        with pytest.raises(ValueError, match="rounds"):
            showdown.interleaved(lab, contenders, n=10, rounds=0)
    assert [len(run.seconds) for run in runs.values()] == [60, 60, 60]
    assert all(run.client_cpu_ms > 0 and run.server_cpu_ms > 0 for run in runs.values())
    rest, unary = runs[showdown.REST], runs[showdown.UNARY]
    # The lesson's claim with its margin: CPU per call, unlike calls per second, holds under load.
    assert (rest.client_cpu_ms + rest.server_cpu_ms) / (unary.client_cpu_ms + unary.server_cpu_ms) >= 1.2


def test_server_cpu_seconds_grows_with_the_calls_the_service_answers(lab):
    before = showdown.server_cpu_seconds(lab)
    with showdown.Contenders(lab) as contenders:
        for _ in range(200):
            contenders.rest()
    assert showdown.server_cpu_seconds(lab) > before


def test_compile_proto_writes_messages_hints_and_stubs(tmp_path):
    files = rpc.compile_proto('syntax = "proto3";\npackage t;\nmessage A { int32 x = 1; }\n'
                              'service S { rpc Go(A) returns (stream A); }\n', tmp_path)
    assert [f.name for f in files] == ["contract_pb2.py", "contract_pb2.pyi", "contract_pb2_grpc.py"]
    assert "unary_stream" in (tmp_path / "contract_pb2_grpc.py").read_text()
    with pytest.raises(ValueError, match="protoc rejected"):
        rpc.compile_proto('syntax = "proto3";\nmessage A { nonsense }\n', tmp_path / "bad")
    with pytest.raises(ValueError, match="path to a .proto"):
        rpc.compile_proto("not a proto", tmp_path)


def test_grpc_frames_round_trip():
    message = pb.Concert(id="c1", title="t", seats_left=3)
    framed = rpc.grpc_frame(message)
    assert framed[0] == 0 and int.from_bytes(framed[1:5], "big") == message.ByteSize()
    assert rpc.grpc_unframe(framed, pb.Concert) == message
    with pytest.raises(ValueError, match="5-byte"):
        rpc.grpc_unframe(b"\x00", pb.Concert)


OLD = 'syntax = "proto3";\npackage ticketing.v1;\nmessage GetConcertRequest {{ string concert_id = 1; }}\n' \
      'message Concert {{ string id = 1; string title = {title}; int32 seats_left = 4; }}\n'


def _old_client_reads(lab, title_number: int):
    old = rpc.message_classes(OLD.format(title=title_number))
    with rpc.channel(lab) as channel:
        call = rpc.unary_call(channel, "/ticketing.v1.Concerts/GetConcert", old["GetConcertRequest"], old["Concert"])
        reply = call(old["GetConcertRequest"](concert_id="c1"), timeout=5)
    return reply.title


def test_an_old_client_reads_a_newer_answer_but_not_a_renumbered_field(lab):
    title = "The Message Queues: Arena Tour"
    check.claim("an old client still reads today's answer", _old_client_reads(lab, 2), equals=title)
    # Renumbering a field is the breaking change protobuf cannot absorb: the claim must fail.
    with pytest.raises(check.ClaimNotShown):
        check.claim("an old client still reads today's answer", _old_client_reads(lab, 6), equals=title)


def test_one_channel_multiplexes_but_a_channel_per_call_does_not(lab):
    door = chaos.proxy(lab, "concerts", port_key="grpc", name="test-mux")

    def connections_for(call) -> int:
        before = door.stats()["connections"]
        bench.measure(call, n=64, warmup=0, concurrency=16, progress=False)
        return door.stats()["connections"] - before

    shared = rpc.concerts_stub(lab, address=door.address)
    check.claim("calls shared 1 TCP connection", connections_for(lambda: rpc.get_concert(shared, "c1")), equals=1)

    def own_channel():
        with grpc.insecure_channel(door.address) as channel:
            rpc.get_concert(pb_grpc.ConcertsStub(channel), "c1")
    with pytest.raises(check.ClaimNotShown):
        check.claim("calls shared 1 TCP connection", connections_for(own_channel), equals=1)


def test_the_streaming_claim_fails_when_the_stream_waits_for_each_answer(lab):
    """With 20 ms per answer, the stream wins only because it does not wait (the lesson says so):
    ask one question at a time on it (SeatChecker) and it is no faster than unary calls."""
    with showdown.Contenders(lab, latency_ms=20) as slow:
        batch = showdown.many_lookups(slow, n=10)
        check.claim("the stream beats unary calls", batch[showdown.UNARY] / batch[showdown.STREAM], at_least=5)
        waiting = bench.measure(slow.streamed, n=10, warmup=1, progress=False)
        with pytest.raises(check.ClaimNotShown):
            check.claim("the stream beats unary calls", batch[showdown.UNARY] / (10 * waiting.median_ms / 1e3),
                        at_least=5)


def test_showdown_bytes_and_bad_arguments(lab):
    payload = showdown.payload_bytes(lab)
    assert payload["gRPC/protobuf"] < payload["REST/JSON"]
    wire = showdown.wire_bytes(lab, calls=5)
    assert set(wire) == {showdown.REST, showdown.UNARY, showdown.STREAM} and all(v > 0 for v in wire.values())
    for bad in (-1, 5000, True):
        with pytest.raises(ValueError, match="latency_ms must be from 0"):
            showdown.Contenders(lab, latency_ms=bad)
    with pytest.raises(ValueError, match="whole number from 1"):
        showdown.wire_bytes(lab, calls=0)
    with showdown.Contenders(lab) as clean, pytest.raises(ValueError, match="whole number from 1"):
        showdown.many_lookups(clean, n=0)


def test_the_lessons_own_contract_compiles_with_its_imports(tmp_path):
    """ticketing.proto imports google/api/annotations.proto (lesson 08's HTTP paths): protoc must find it."""
    from labs.lessons import rpc
    assert [p.name for p in rpc.compile_proto(rpc.PROTO, tmp_path)] == [
        "ticketing_pb2.py", "ticketing_pb2.pyi", "ticketing_pb2_grpc.py"]
