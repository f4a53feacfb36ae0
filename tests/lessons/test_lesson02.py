"""Lesson 02: each fallacy's check cell fails when its fault is taken out of the world.

The checks are the notebook's own cells (first line `# Claim: <name>`), and where a demo is tagged
(`demo-<name>`) the test runs the learner's cells too, with one thing changed: a reliable network,
no added latency, no jitter, a capture that keeps only the first bytes, a host that forgets to
register, clients and services of the same version."""
import grpc
import httpx
import pytest

import labs
from labs import bench, chaos, check, tls
from labs.clients.ticketing import Monolith, RestTicketing
from labs.lessons import fallacies
from labs.protos import ticketing_pb2 as pb

from lesson_cells import _cells, assert_claim_fails, assert_claim_holds, run, run_demo

LESSON = "02"
ORDER = {"user_id": "u1", "concert_id": "c1"}


@pytest.fixture(scope="module")
def lab():
    lab = labs.start("orders", "chaos", "redis", progress=False)
    RestTicketing(lab).reset()
    return lab


def namespace(lab, **extra) -> dict:
    return {"lab": lab, "check": check, "chaos": chaos, "fallacies": fallacies, "httpx": httpx, **extra}


def cell(startswith: str) -> str:
    return next(c.source for c in _cells(LESSON) if c.source.startswith(startswith))


def test_reliable_fails_on_a_reliable_network(lab):
    ns = run(cell("import uuid"), namespace(lab))
    proxy = chaos.proxy(lab, "orders", name="orders-test-02")  # no toxics: nothing is lost
    outcomes = {name: fallacies.place_through(lab, proxy, strategy=name, orders=5,
                                              place=lambda c, how=how: ns["place_order"](c, **how))
                for name, how in {"no retry": dict(retry=False, with_key=False),
                                  "retry": dict(retry=True, with_key=False),
                                  "retry with idempotency key": dict(retry=True, with_key=True)}.items()}
    assert all(o.confirmed == o.charged == 5 for o in outcomes.values())
    assert_claim_fails(LESSON, "reliable", namespace(lab, outcomes=outcomes), "were charged anyway")


def latency_world(lab, latency_ms: int, jitter_ms: int) -> dict:
    """The latency demo's measurements with the proxies' toxics as given (0: none)."""
    plain = chaos.proxy(lab, "users", name="users-test-02")
    shaky = chaos.proxy(lab, "users", name="users-jittery-test-02")
    with httpx.Client(base_url=plain.url_for(), timeout=5) as a, \
            httpx.Client(base_url=shaky.url_for(), timeout=5) as b:
        get_a = lambda: a.get("/users/u1").raise_for_status()
        get_b = lambda: b.get("/users/u1").raise_for_status()
        baseline = bench.measure(get_a, n=10, progress=False)
        if latency_ms:
            plain.add("latency", latency=latency_ms)
            shaky.add("latency", latency=latency_ms, jitter=jitter_ms)
        slowed, jittery = fallacies.interleaved({"plain": get_a, "jittery": get_b}, n=30)
        sequential_ms, parallel_ms = fallacies.sequential_vs_parallel(get_a, n=5)
        plain.clear()
        shaky.clear()
    fastest = {run.label: min(run.seconds) * 1000 for run in (slowed, jittery)}
    return dict(LATENCY_MS=50, JITTER_MS=40, N_CALLS=5, baseline=baseline, slowed=slowed, jittery=jittery,
                fastest=fastest, sequential_ms=sequential_ms, parallel_ms=parallel_ms)


def test_latency_fails_without_added_latency(lab):
    assert_claim_fails(LESSON, "latency", namespace(lab, **latency_world(lab, 0, 0)), "moves the median")


def test_the_jitter_claim_fails_without_jitter(lab):
    world = latency_world(lab, 50, 0)  # the latency is there, the jitter is not
    assert_claim_fails(LESSON, "latency", namespace(lab, **world), "of jitter lets the fastest")


def test_the_jitter_claim_holds_with_jitter(lab):
    world = latency_world(lab, 50, 40)
    assert world["fastest"]["plain"] - world["fastest"]["jittery"] >= 10


def test_bandwidth_fails_without_a_cap(lab):
    fallacies.fill_inbox(lab, "u3", 20)
    proxy = chaos.proxy(lab, "notifications", name="notifications-test-02")
    with httpx.Client(base_url=proxy.url_for(), timeout=5) as api:
        downloads = [fallacies.timed_download(api, "/notifications?user_id=u3")]
    assert_claim_fails(LESSON, "bandwidth", namespace(lab, RATE_KB_S=50, downloads=downloads))


def tls_world(lab, capture_bytes: int, encrypted: bool = True) -> dict:
    sidecar = tls.sidecar(lab.endpoint("users")["http"])
    wire = chaos.server().ensure(f"users-tls-test-02-{capture_bytes}", upstream=sidecar.address,
                                 capture_bytes=capture_bytes)
    plain = chaos.proxy(lab, "users", name="users-plain-test-02")
    wire.clear_capture()
    plain.clear_capture()
    with httpx.Client(base_url=f"https://{wire.address}", verify=sidecar.client_context()) as client:
        tls_user = client.get("/users/u1").json()
    with httpx.Client(base_url=plain.url_for()) as client:
        client.get("/users/u1")
    streams = fallacies.sniffed_streams(wire if encrypted else plain)
    sidecar.close()
    return dict(plaintext=fallacies.sniffed(plain), tls_user=tls_user, streams=streams,
                records={s["direction"]: fallacies.tls_records(s["data"]) for s in streams})


def test_secure_holds_on_a_whole_tls_capture(lab):
    assert_claim_holds(LESSON, "secure", namespace(lab, **tls_world(lab, 1 << 20)))


def test_secure_fails_when_the_capture_keeps_only_the_first_bytes(lab):
    world = tls_world(lab, 64)  # the 4096-byte default would hide a longer answer the same way
    assert not all(s["complete"] for s in world["streams"])
    assert_claim_fails(LESSON, "secure", namespace(lab, **world), "kept every byte")


def test_secure_fails_when_the_hop_is_not_encrypted(lab):
    world = tls_world(lab, 1 << 20, encrypted=False)
    assert "not TLS" in world["records"]["upstream"]
    assert_claim_fails(LESSON, "secure", namespace(lab, **world), "TLS records")


def test_topology_fails_when_nothing_moves(lab):
    home = chaos.proxy(lab, "users", name="users-home-test-02")
    with httpx.Client(base_url=home.url_for(), timeout=2) as hard_coded:
        failed = fallacies.failures(lambda: hard_coded.get("/users/u1").raise_for_status(), 3)
    assert failed == 0
    assert_claim_fails(LESSON, "topology", namespace(lab, hard_coded_failures=failed, looked_up_failures=0,
                                                     CALLS=3))


def test_topology_holds_as_written_and_fails_when_the_new_host_does_not_register(lab):
    ns = run_demo(LESSON, "topology", namespace(lab))
    assert_claim_holds(LESSON, "topology", ns)
    forgot = lambda source: source.replace('hosts.move("users-host-b")',
                                           'hosts.register = False; hosts.move("users-host-b")')
    ns = run_demo(LESSON, "topology", namespace(lab), forgot)
    assert ns["looked_up_failures"] == ns["CALLS"]
    assert_claim_fails(LESSON, "topology", ns, "asks the registry keeps working")


def test_administrators_fails_when_the_timeouts_fit(lab):
    taps = fallacies.impatient_taps(lab, app_timeout_s=0.5, payments_slowdown_ms=0, taps=2)
    assert taps == {"taps": 2, "confirmed": 1, "charged": 1}
    assert_claim_fails(LESSON, "administrators", namespace(lab, taps=taps))


def test_cost_fails_when_everything_is_a_method_call():
    monolith = Monolith()
    place = lambda: monolith.place_order("u1", "c1")
    costs = {name: fallacies.cost_of_orders(name, place, 50) for name in ("method call", "REST", "gRPC")}
    costs["gRPC"].bytes_per_order = costs["REST"].bytes_per_order = 100.0  # the same bytes: no win either
    assert_claim_fails(LESSON, "cost", {"check": check, "costs": costs})


def versions_world(lab, edit) -> dict:
    """The homogeneous demo cell, run with `edit` applied to its source."""
    proxy = chaos.proxy(lab, "orders", name="orders-versions-test-02")
    ns = namespace(lab, rest_client=httpx.Client(base_url=proxy.url_for(), timeout=5), pb=pb, grpc=grpc,
                   ORDER=ORDER)
    stub = __import__("labs.protos.ticketing_pb2_grpc", fromlist=["OrdersStub"]).OrdersStub(
        grpc.insecure_channel(lab.endpoint("orders")["grpc"]))
    ns["place_grpc"] = lambda: stub.PlaceOrder(pb.PlaceOrderRequest(**ORDER), timeout=5)
    return run(edit(cell("import pydantic")), ns)


def test_homogeneous_holds_as_written(lab):
    assert_claim_holds(LESSON, "homogeneous", versions_world(lab, lambda s: s))


def test_homogeneous_fails_for_a_newer_client_of_the_same_version(lab):
    same = lambda s: s.replace(', "seat_class": "vip"', "").replace(' + fallacies.unknown_field(3, "vip")', "")
    ns = versions_world(lab, same)
    assert ns["json_status"] == 201
    assert_claim_fails(LESSON, "homogeneous", ns, "newer client, older service")


def test_homogeneous_fails_for_an_older_client_that_knows_every_field(lab):
    same = lambda s: (s.replace("    amount: int; status: str", "    amount: int; status: str; notified: bool")
                      .replace('without=("notified",)', "without=()"))
    ns = versions_world(lab, same)
    assert ns["old_json"] == "parsed"
    assert_claim_fails(LESSON, "homogeneous", ns, "older client, newer service")


def test_another_language_reads_back_what_python_reads(lab):
    js = cell("PLACE_ORDER_JS").split('"""')[1]
    from_js = fallacies.from_another_language(js, lab.endpoint("orders")["http"], ORDER)
    with RestTicketing(lab) as shop:
        read_back = shop.get_order(from_js["order"]["id"])
    assert_claim_holds(LESSON, "another language", namespace(lab, from_js=from_js, read_back=read_back))
    invalid = fallacies.from_another_language(js, lab.endpoint("orders")["http"], {**ORDER, "x": 1})
    assert invalid["status"] == 422  # the service answers any client with its own rules


def test_helpers_reject_bad_input_naming_the_range(lab):
    with pytest.raises(ValueError, match="1 to 15"):
        fallacies.unknown_field(16, "x")
    with pytest.raises(ValueError, match="place must be a function"):
        fallacies.place_through(lab, None, "hope", strategy="x")
    with pytest.raises(ValueError, match="0.05 to 10"):
        fallacies.impatient_taps(lab, app_timeout_s=0, payments_slowdown_ms=10)
    with pytest.raises(ValueError, match="from 1 to 64"):
        fallacies.sequential_vs_parallel(lambda: None, n=0)
    with pytest.raises(ValueError, match="has no field 'seat'"):
        fallacies.older_message(pb.Order, without=("seat",))
    with pytest.raises(ValueError, match="host:port"):
        tls.sidecar("nowhere")


def test_unknown_field_is_what_protobuf_encodes():
    from google.protobuf import descriptor_pb2
    # a string field with "vip", as protoc-generated code writes it
    message = descriptor_pb2.FieldDescriptorProto(type_name="vip")  # type_name is field 6, a string
    assert message.SerializeToString() == fallacies.unknown_field(6, "vip")


def test_tls_records_parse_a_stream_and_say_where_it_is_not_tls():
    assert fallacies.tls_records(b"\x16\x03\x01\x00\x02ab\x17\x03\x03\x00\x01z") == ["handshake", "application_data"]
    assert fallacies.tls_records(b"\x16\x03\x01\x00\x09ab") == ["handshake", "not TLS"]  # cut short
    assert fallacies.tls_records(b"GET / HTTP/1.1\r\n") == ["not TLS"]
