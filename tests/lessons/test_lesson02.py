"""Lesson 02: each fallacy's check cell, run on measurements taken WITHOUT its fault, must fail.

The checks are executed from the notebook itself (the cells starting `# Claim: <name>`), so this
test proves exactly what the learner runs can fail.
"""
from pathlib import Path

import grpc
import httpx
import nbformat
import pytest

import labs
from labs import chaos, check
from labs.lessons import fallacies
from labs import bench, tls
from labs.tools.check import ClaimNotShown
from labs.clients.ticketing import Monolith, RestTicketing

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "02-eight-fallacies.ipynb"


def claim_cell(name: str) -> str:
    cells = [c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells
             if c.cell_type == "code" and c.source.startswith(f"# Claim: {name}\n")]
    assert len(cells) == 1, f"expected one '# Claim: {name}' cell in {NOTEBOOK.name}"
    return cells[0]


def assert_fails(name: str, **measured) -> None:
    with pytest.raises(ClaimNotShown):
        exec(claim_cell(name), {"check": check, "fallacies": fallacies, **measured})


@pytest.fixture(scope="module")
def lab():
    lab = labs.start("orders", "chaos", progress=False)
    RestTicketing(lab).reset()
    return lab


def test_reliable_fails_on_a_reliable_network(lab):
    proxy = chaos.proxy(lab, "orders", name="orders-test-02")
    outcomes = {s: fallacies.place_through(lab, proxy, s, orders=5) for s in fallacies.STRATEGIES}
    assert all(o.confirmed == o.charged == 5 for o in outcomes.values())
    assert_fails("reliable", outcomes=outcomes)


def test_latency_fails_without_added_latency(lab):
    proxy = chaos.proxy(lab, "users", name="users-test-02")
    with httpx.Client(base_url=proxy.url_for(), timeout=5) as api:
        call = lambda: api.get("/users/u1").raise_for_status()
        baseline, slowed = (bench.measure(call, n=10, progress=False) for _ in range(2))
        sequential_ms, parallel_ms = fallacies.sequential_vs_parallel(call, n=5)
    assert_fails("latency", LATENCY_MS=50, baseline=baseline, slowed=slowed, N_CALLS=5,
                 sequential_ms=sequential_ms, parallel_ms=parallel_ms)


def test_bandwidth_fails_without_a_cap(lab):
    fallacies.fill_inbox(lab, "u3", 20)
    proxy = chaos.proxy(lab, "notifications", name="notifications-test-02")
    with httpx.Client(base_url=proxy.url_for(), timeout=5) as api:
        downloads = [fallacies.timed_download(api, "/notifications?user_id=u3")]
    assert_fails("bandwidth", RATE_KB_S=50, downloads=downloads)


def test_secure_fails_both_ways_when_the_wire_is_encrypted_or_not(lab):
    sidecar = tls.sidecar(lab.endpoint("users")["http"])
    wire = chaos.server().ensure("users-tls-test-02", upstream=sidecar.address)
    plain = chaos.proxy(lab, "users", name="users-plain-test-02")
    wire.clear_capture()
    plain.clear_capture()
    with httpx.Client(base_url=f"https://{wire.address}", verify=sidecar.client_context()) as client:
        tls_user = client.get("/users/u1").json()
    with httpx.Client(base_url=plain.url_for()) as client:
        client.get("/users/u1")
    encrypted, readable = fallacies.sniffed(wire), fallacies.sniffed(plain)
    sidecar.close()
    assert_fails("secure", plaintext=encrypted, over_tls=encrypted, tls_user=tls_user)  # no plaintext anywhere
    assert_fails("secure", plaintext=readable, over_tls=readable, tls_user=tls_user)    # no TLS anywhere


def test_topology_fails_when_nothing_moves(lab):
    home = chaos.proxy(lab, "users", name="users-home-test-02")
    with httpx.Client(base_url=home.url_for(), timeout=2) as hard_coded:
        failed = fallacies.failures(lambda: hard_coded.get("/users/u1").raise_for_status(), 3)
    assert failed == 0
    assert_fails("topology", hard_coded_failures=failed, looked_up_failures=0, CALLS=3)


def test_administrators_fails_when_the_timeouts_fit(lab):
    taps = fallacies.impatient_taps(lab, app_timeout_s=0.5, payments_slowdown_ms=0, taps=2)
    assert taps == {"taps": 2, "confirmed": 1, "charged": 1}
    assert_fails("administrators", taps=taps)


def test_cost_fails_when_everything_is_a_method_call():
    monolith = Monolith()
    place = lambda: monolith.place_order("u1", "c1")
    costs = {name: fallacies.cost_of_orders(name, place, 50) for name in ("method call", "REST", "gRPC")}
    costs["gRPC"].bytes_per_order = costs["REST"].bytes_per_order = 100.0  # the same bytes: no win either
    assert_fails("cost", costs=costs)


def test_homogeneous_fails_for_a_client_of_the_same_version(lab):
    with httpx.Client(base_url=lab.endpoint("orders")["http"], timeout=5) as client:
        json_status = client.post("/orders", json={"user_id": "u1", "concert_id": "c1"}).status_code
    with grpc.insecure_channel(lab.endpoint("orders")["grpc"]) as channel:
        from labs.protos import ticketing_pb2 as pb
        order = fallacies.place_order_raw(channel, pb.PlaceOrderRequest(user_id="u1", concert_id="c1")
                                          .SerializeToString())
    assert_fails("homogeneous", json_status=json_status, protobuf_order=order)


def test_helpers_reject_bad_input_naming_the_range(lab):
    with pytest.raises(ValueError, match="1 to 15"):
        fallacies.unknown_field(16, "x")
    with pytest.raises(ValueError, match="strategy must be one of"):
        fallacies.place_through(lab, None, "hope")
    with pytest.raises(ValueError, match="0.05 to 10"):
        fallacies.impatient_taps(lab, app_timeout_s=0, payments_slowdown_ms=10)
    with pytest.raises(ValueError, match="from 1 to 64"):
        fallacies.sequential_vs_parallel(lambda: None, n=0)
    with pytest.raises(ValueError, match="host:port"):
        tls.sidecar("nowhere")


def test_unknown_field_is_what_protobuf_encodes():
    from google.protobuf import descriptor_pb2
    # a string field with "vip", as protoc-generated code writes it
    message = descriptor_pb2.FieldDescriptorProto(type_name="vip")  # type_name is field 6, a string
    assert message.SerializeToString() == fallacies.unknown_field(6, "vip")
