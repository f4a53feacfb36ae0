"""L7 fault rules in the ticketing services: injected HTTP statuses and gRPC codes per route or
method, added latency, seeded sequences, validation, counters, and the lessons' FaultRules client."""
import statistics
import time

import grpc
import httpx
import pytest

import labs
from labs.protos import ticketing_pb2 as pb
from labs.protos import ticketing_pb2_grpc as pb_grpc
from labs.clients.ticketing import GrpcTicketing, Invalid, NotFound, RestTicketing, Unavailable
from labs.clients.faults import FaultRules

SERVICES = ["users", "concerts", "payments", "notifications", "orders"]


@pytest.fixture(scope="module")
def lab():
    return labs.start("orders", progress=False)


@pytest.fixture
def http(lab):
    clients = {name: httpx.Client(base_url=lab.endpoint(name)["http"], timeout=10) for name in SERVICES}
    for client in clients.values():
        client.post("/admin/reset").raise_for_status()  # seed data, no fault rules
    yield clients
    for client in clients.values():
        client.post("/admin/reset")
        client.close()


@pytest.fixture
def rules(lab, http):
    opened = {name: FaultRules(lab, name) for name in ("users", "payments")}
    yield opened
    for faults in opened.values():
        faults.close()


def test_a_payments_503_fails_rest_orders_releases_the_seat_and_leaves_users_alone(lab, http, rules):
    seats = http["concerts"].get("/concerts/c1").json()["seats_left"]
    balance = http["users"].get("/users/u1").json()["balance"]
    with rules["payments"].injected("POST /payments", error_rate=1.0, http_status=503) as rule:
        direct = http["payments"].post("/payments", json={"user_id": "u1", "amount": 5, "reference": "r1"})
        assert direct.status_code == 503 and direct.json()["error"] == "injected_fault", direct.text
        assert direct.json()["rule"] == rule["id"] and direct.headers["x-labs-fault-rule"] == rule["id"]
        answer = http["orders"].post("/orders", json={"user_id": "u1", "concert_id": "c1"})
        assert answer.status_code == 503, answer.text
        body = answer.json()  # orders passes the failure on as its own: payments is unavailable
        assert body["error"] == "unavailable" and body["service"] == "payments" and "injected" in body["detail"]
        assert http["users"].get("/users/u1").status_code == 200, "other routes are not affected"
        with RestTicketing(lab) as shop, pytest.raises(Unavailable) as err:
            shop.place_order("u1", "c1")
        assert err.value.service == "payments"
        listed = rules["payments"].list()
        assert [(r["id"], r["matched"], r["failed"]) for r in listed] == [(rule["id"], 3, 3)]
    assert (rule["matched"], rule["failed"]) == (3, 3), "the context manager reports the final counts"
    assert rules["payments"].list() == [], "removed on exit"
    assert http["concerts"].get("/concerts/c1").json()["seats_left"] == seats, "compensation released every seat"
    assert http["users"].get("/users/u1").json()["balance"] == balance, "nobody was charged"
    assert http["orders"].post("/orders", json={"user_id": "u1", "concert_id": "c1"}).status_code == 201


def test_grpc_unavailable_on_charge_fails_grpc_orders_but_not_rest_or_other_methods(lab, http, rules):
    seats = http["concerts"].get("/concerts/c1").json()["seats_left"]
    charge = "/ticketing.v1.Payments/Charge"
    with rules["payments"].injected(charge, error_rate=1.0, grpc_code="UNAVAILABLE") as rule:
        with grpc.insecure_channel(lab.endpoint("payments")["grpc"]) as channel:
            with pytest.raises(grpc.RpcError) as err:
                pb_grpc.PaymentsStub(channel).Charge(pb.ChargeRequest(user_id="u1", amount=5, reference="r1"),
                                                     timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE and "injected" in err.value.details()
        trailers = dict(err.value.trailing_metadata())
        assert trailers["x-labs-reason"] == "injected_fault" and trailers["x-labs-fault-rule"] == rule["id"]
        with GrpcTicketing(lab) as shop:
            with pytest.raises(Unavailable) as failed:
                shop.place_order("u1", "c1")
            assert failed.value.service == "payments" and "injected" in failed.value.message
            assert shop.get_user("u1").id == "u1", "GetUser is not affected"
        assert http["orders"].post("/orders", json={"user_id": "u1", "concert_id": "c1"}).status_code == 201, \
            "a gRPC rule leaves REST alone"
    assert (rule["matched"], rule["failed"]) == (2, 2)
    assert http["concerts"].get("/concerts/c1").json()["seats_left"] == seats - 1, "only the REST order kept a seat"
    with GrpcTicketing(lab) as shop:
        assert shop.place_order("u1", "c1").status == "confirmed"


def _median_ms(client: httpx.Client, path: str, n: int = 25) -> float:
    client.get(path)  # connection warm
    times = []
    for _ in range(n):
        start = time.perf_counter()
        client.get(path).raise_for_status()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def test_added_latency_moves_the_median_by_that_much(http, rules):
    before = _median_ms(http["users"], "/users/u1")
    with rules["users"].injected("GET /users/{user_id}", added_latency_ms=50):
        slowed = _median_ms(http["users"], "/users/u1")
        debit = http["users"].post("/users/u1/debit", json={"amount": 1})
        assert debit.elapsed.total_seconds() < 0.04, "other routes are not slowed"
    assert 45 <= slowed - before <= 55, (before, slowed)


def _sequence(client: httpx.Client, n: int) -> list[bool]:
    return [client.get("/users/u1").status_code == 200 for _ in range(n)]


def test_a_seeded_error_rate_repeats_its_sequence_and_fails_about_that_often(http, rules):
    sequences = []
    for _ in range(2):
        with rules["users"].injected("GET /users/{user_id}", error_rate=0.3, http_status=500, seed=7) as rule:
            sequences.append(_sequence(http["users"], 200))
        assert rule["matched"] == 200 and rule["failed"] == sequences[-1].count(False)
    assert sequences[0] == sequences[1]
    assert 0.2 <= sequences[0].count(False) / 200 <= 0.4, sequences[0].count(False)
    with rules["users"].injected("GET /users/{user_id}", error_rate=0.3, http_status=500, seed=8):
        assert _sequence(http["users"], 200) != sequences[0], "another seed, another sequence"


@pytest.mark.parametrize("rule, named", [
    ({"match": "POST /payments", "error_rate": 1.5, "http_status": 503}, "from 0 to 1"),
    ({"match": "POST /payments", "error_rate": -0.1}, "from 0 to 1"),
    ({"match": "POST /payments", "error_rate": 1, "http_status": 200}, "from 400 to 599"),
    ({"match": "POST /payments", "error_rate": 1, "http_status": 600}, "from 400 to 599"),
    ({"match": "POST /payments", "added_latency_ms": 60_001}, "from 0 to 60000"),
    ({"match": "POST /payments", "added_latency_ms": -1}, "from 0 to 60000"),
    ({"match": "/ticketing.v1.Payments/Charge", "error_rate": 1, "grpc_code": "OK"}, "other than OK"),
    ({"match": "POST /payments", "seed": -1}, "from 0 to 2**63-1"),
    ({"match": "POST /payments", "http_status": 503}, "error_rate from 0 to 1"),
    ({"match": "payments please"}, "METHOD /path-template"),
    ({"match": "POST /payment"}, "POST /payments"),           # a typo: the answer lists the real routes
    ({"match": "/ticketing.v1.Users/GetUser"}, "/ticketing.v1.Payments/Charge"),
    ({"match": "POST /admin/reset", "error_rate": 1}, "no route"),  # admin routes cannot be faulted
])
def test_bad_rules_are_422_naming_the_allowed_range(http, rules, rule, named):
    answer = http["payments"].post("/admin/faults", json=rule)
    assert answer.status_code == 422, answer.text
    assert named in answer.json()["detail"][0]["msg"], answer.text
    with pytest.raises((ValueError, Invalid)) as err:  # the client refuses it too, with the same words
        rules["payments"].add(**rule)
    assert named in str(err.value)
    assert rules["payments"].list() == []


def test_client_side_checks_refuse_before_any_call(rules):
    with pytest.raises(ValueError, match="from 0 to 1"):
        rules["payments"].add("POST /payments", error_rate=2)
    with pytest.raises(ValueError, match="grpc.StatusCode"):
        rules["payments"].add("/ticketing.v1.Payments/Charge", error_rate=1, grpc_code="UNAVAILABLEE")
    with pytest.raises(NotFound):
        rules["payments"].remove("f999")


def test_rules_are_listed_removed_cleared_and_gone_after_reset(http, rules):
    payments = rules["payments"]
    first = payments.add("POST /payments", error_rate=0.5, http_status=502, seed=1)
    second = payments.add("/ticketing.v1.Payments/Charge", added_latency_ms=10)
    listed = payments.list()
    assert [r["id"] for r in listed] == [first, second]
    assert listed[0]["transport"] == "http" and listed[1]["transport"] == "grpc" and listed[1]["error_rate"] == 0
    assert payments.remove(first)["id"] == first and [r["id"] for r in payments.list()] == [second]
    payments.add("POST /payments", error_rate=1.0)
    assert payments.clear() == 2 and payments.list() == []
    payments.add("POST /payments", error_rate=1.0)
    http["payments"].post("/admin/reset").raise_for_status()
    assert payments.list() == [] and http["payments"].get("/admin/faults").json() == []
    assert http["payments"].post("/payments", json={"user_id": "u1", "amount": 5, "reference": "r1"}).status_code == 201


def test_the_context_manager_removes_its_rule_on_an_exception(rules):
    with pytest.raises(RuntimeError):
        with rules["users"].injected("GET /users/{user_id}", error_rate=1.0, http_status=500):
            raise RuntimeError("the lesson's cell failed")
    assert rules["users"].list() == []
