"""Idempotency keys on placing an order: a retry with the same key is charged once, on every transport."""
import threading

import grpc
import httpx
import pytest

import labs
from labs.clients.ticketing import GrpcTicketing, RestTicketing
from labs.components.ticketing.domain import Invalid
from labs.clients.faults import FaultRules
from labs.components.ticketing.monolith import Monolith
from labs.protos import ticketing_pb2 as pb
from labs.protos import ticketing_pb2_grpc as pb_grpc


@pytest.fixture(scope="module")
def lab():
    return labs.start("orders", progress=False)


@pytest.fixture(params=["monolith", "rest", "grpc"])
def shop(request, lab):
    client = {"monolith": Monolith, "rest": lambda: RestTicketing(lab), "grpc": lambda: GrpcTicketing(lab)}[request.param]()
    client.reset()
    yield client
    client.close()


def test_a_retry_with_the_same_key_returns_the_first_order_and_charges_once(shop):
    balance = shop.get_user("u2").balance
    first = shop.place_order("u2", "c1", idempotency_key="k-1")
    again = shop.place_order("u2", "c1", idempotency_key="k-1")
    assert again == first
    assert shop.get_user("u2").balance == balance - first.amount
    other = shop.place_order("u2", "c1", idempotency_key="k-2")
    assert other.id != first.id
    without_key = [shop.place_order("u2", "c1") for _ in range(2)]
    assert without_key[0].id != without_key[1].id  # no key: every call is a new order


def test_a_key_reused_for_a_different_order_or_malformed_is_rejected(shop):
    shop.place_order("u2", "c1", idempotency_key="k-1")
    with pytest.raises(Invalid, match="different order"):
        shop.place_order("u3", "c1", idempotency_key="k-1")
    with pytest.raises(Invalid):
        shop.place_order("u2", "c1", idempotency_key="has spaces")


def test_a_failed_first_attempt_frees_the_key(shop):
    from labs.components.ticketing.domain import Conflict
    with pytest.raises(Conflict):
        shop.place_order("u5", "c1", idempotency_key="k-poor")  # balance 10 < price 40
    with pytest.raises(Conflict):
        shop.place_order("u5", "c1", idempotency_key="k-poor")  # tried again, not replayed as success


def test_a_retry_that_arrives_while_the_first_is_still_running_waits_for_it(lab):
    shop = RestTicketing(lab)
    shop.reset()
    balance = shop.get_user("u2").balance
    orders = []
    with FaultRules(lab, "payments") as faults, faults.injected("POST /payments", added_latency_ms=400):
        threads = [threading.Thread(target=lambda: orders.append(shop.place_order("u2", "c1", "k-slow")))
                   for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(orders) == 3 and len({o.id for o in orders}) == 1
    assert shop.get_user("u2").balance == balance - 40
    shop.close()


def test_the_replay_is_visible_on_the_wire(lab):
    with httpx.Client(base_url=lab.endpoint("orders")["http"]) as http:
        http.post("/admin/reset").raise_for_status()
        body, headers = {"user_id": "u1", "concert_id": "c1"}, {"Idempotency-Key": "wire-1"}
        first, second = (http.post("/orders", json=body, headers=headers) for _ in range(2))
        assert (first.status_code, second.status_code) == (201, 201)
        assert first.headers["idempotent-replayed"] == "false" and second.headers["idempotent-replayed"] == "true"
        assert http.post("/orders", json=body, headers={"Idempotency-Key": "x" * 65}).status_code == 422
    with grpc.insecure_channel(lab.endpoint("orders")["grpc"]) as channel:
        stub = pb_grpc.OrdersStub(channel)
        request = pb.PlaceOrderRequest(user_id="u1", concert_id="c1")
        _, call = stub.PlaceOrder.with_call(request, metadata=[("idempotency-key", "wire-2")], timeout=10)
        again, call2 = stub.PlaceOrder.with_call(request, metadata=[("idempotency-key", "wire-2")], timeout=10)
        assert dict(call2.trailing_metadata())["idempotent-replayed"] == "true"
        with pytest.raises(grpc.RpcError) as err:
            stub.PlaceOrder(request, metadata=[("idempotency-key", "bad key")], timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
