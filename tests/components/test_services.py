"""The five ticketing services as real processes: REST and gRPC flows, errors, loopback, failure."""
import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

import labs
from labs.clients.ticketing import Conflict, GrpcTicketing, NotFound, RestTicketing, Unavailable
from labs.protos import ticketing_pb2 as pb
from labs.protos import ticketing_pb2_grpc as pb_grpc

SERVICES = ["users", "concerts", "payments", "notifications", "orders"]


@pytest.fixture(scope="module")
def lab():
    return labs.start("orders", progress=False)  # pulls in the four services orders calls


@pytest.fixture
def http(lab):
    clients = {name: httpx.Client(base_url=lab.endpoint(name)["http"], timeout=10) for name in SERVICES}
    for client in clients.values():
        client.post("/admin/reset").raise_for_status()
    yield clients
    for client in clients.values():
        client.close()


@pytest.fixture
def channels(lab, http):  # `http` for its reset
    opened = {name: grpc.insecure_channel(lab.endpoint(name)["grpc"]) for name in SERVICES}
    yield opened
    for channel in opened.values():
        channel.close()


def _code(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as err:
        call()
    return err.value.code()


def test_orders_pulls_in_the_services_it_calls_and_all_answer_on_loopback_only(lab):
    assert sorted(lab.names) == sorted(SERVICES)
    for name in SERVICES:
        endpoint = lab.endpoint(name)
        assert endpoint["http"].startswith("http://127.0.0.1:") and endpoint["grpc"].startswith("127.0.0.1:")
        listeners = lab.listeners(name)
        assert len(listeners) == 2 and all(a.startswith("127.0.0.1:") for a in listeners), (name, listeners)


def test_every_service_has_docs_health_and_grpc_reflection(lab, http, channels):
    for name in SERVICES:
        assert http[name].get("/docs").status_code == 200
        assert http[name].get("/health").json() == {"status": "ok", "service": name}
        health = health_pb2_grpc.HealthStub(channels[name]).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        reflect = reflection_pb2_grpc.ServerReflectionStub(channels[name])
        answer = next(reflect.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
        listed = {s.name for s in answer.list_services_response.service}
        assert f"ticketing.v1.{name.capitalize()}" in listed and "grpc.health.v1.Health" in listed


def test_a_rest_order_debits_the_balance_takes_a_seat_and_notifies(http):
    balance = http["users"].get("/users/u1").json()["balance"]
    concert = http["concerts"].get("/concerts/c2").json()
    answer = http["orders"].post("/orders", json={"user_id": "u1", "concert_id": "c2"})
    assert answer.status_code == 201, answer.text
    order = answer.json()
    assert order["status"] == "confirmed" and order["amount"] == concert["price"] and order["notified"]
    assert http["users"].get("/users/u1").json()["balance"] == balance - concert["price"]
    assert http["concerts"].get("/concerts/c2").json()["seats_left"] == concert["seats_left"] - 1
    assert http["orders"].get(f"/orders/{order['id']}").json() == order
    sent = http["notifications"].get("/notifications", params={"user_id": "u1"}).json()
    assert [n["user_id"] for n in sent] == ["u1"]


def test_a_grpc_order_debits_the_balance_takes_a_seat_and_notifies(channels):
    users, concerts = pb_grpc.UsersStub(channels["users"]), pb_grpc.ConcertsStub(channels["concerts"])
    orders = pb_grpc.OrdersStub(channels["orders"])
    balance = users.GetUser(pb.GetUserRequest(user_id="u1"), timeout=5).balance
    concert = concerts.GetConcert(pb.GetConcertRequest(concert_id="c2"), timeout=5)
    order = orders.PlaceOrder(pb.PlaceOrderRequest(user_id="u1", concert_id="c2"), timeout=5)
    assert order.status == "confirmed" and order.amount == concert.price and order.notified
    assert users.GetUser(pb.GetUserRequest(user_id="u1"), timeout=5).balance == balance - concert.price
    assert concerts.GetConcert(pb.GetConcertRequest(concert_id="c2"), timeout=5).seats_left == concert.seats_left - 1
    assert orders.GetOrder(pb.GetOrderRequest(order_id=order.id), timeout=5) == order
    sent = pb_grpc.NotificationsStub(channels["notifications"]).List(pb.ListNotificationsRequest(user_id="u1"))
    assert [n.user_id for n in sent.notifications] == ["u1"]


@pytest.mark.parametrize("service, method, path, body", [
    ("orders", "POST", "/orders", {"user_id": "U 1", "concert_id": "c1"}),       # id pattern
    ("orders", "POST", "/orders", {"user_id": "u1"}),                             # missing field
    ("orders", "POST", "/orders", {"user_id": "u1", "concert_id": "c1", "x": 1}),  # unknown field
    ("orders", "POST", "/orders", {"user_id": 1, "concert_id": "c1"}),            # wrong type
    ("users", "POST", "/users/u1/debit", {"amount": 0}),
    ("users", "POST", "/users/u1/debit", {"amount": 1_000_001}),
    ("users", "POST", "/users/u1/debit", {"amount": "10"}),
    ("users", "GET", "/users/U1", None),
    ("payments", "POST", "/payments", {"user_id": "u1", "amount": -5, "reference": "r1"}),
    ("notifications", "POST", "/notifications", {"user_id": "u1", "message": ""}),
    ("notifications", "GET", "/notifications?user_id=BAD", None),
])
def test_schema_errors_are_422_with_a_useful_body(http, service, method, path, body):
    answer = http[service].request(method, path, json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["msg"] and "Traceback" not in answer.text


@pytest.mark.parametrize("service, method, path, body", [
    ("users", "GET", "/users/u99", None),
    ("users", "POST", "/users/u99/debit", {"amount": 5}),
    ("concerts", "GET", "/concerts/c99", None),
    ("concerts", "DELETE", "/concerts/c1/reservations/r999", None),
    ("orders", "GET", "/orders/o999", None),
    ("orders", "POST", "/orders", {"user_id": "u99", "concert_id": "c1"}),
    ("orders", "POST", "/orders", {"user_id": "u1", "concert_id": "c99"}),
    ("payments", "POST", "/payments", {"user_id": "u99", "amount": 5, "reference": "r1"}),
    ("users", "GET", "/no/such/route", None),
])
def test_unknown_ids_are_404(http, service, method, path, body):
    answer = http[service].request(method, path, json=body)
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"] == "not_found" and answer.json()["detail"]


def test_sold_out_and_insufficient_balance_are_409_and_release_the_seat(http):
    refused = http["orders"].post("/orders", json={"user_id": "u5", "concert_id": "c3"})
    assert refused.status_code == 409 and refused.json()["error"] == "insufficient_balance", refused.text
    assert http["concerts"].get("/concerts/c3").json()["seats_left"] == 2, "compensation released the seat"
    for user in ("u1", "u2"):
        assert http["orders"].post("/orders", json={"user_id": user, "concert_id": "c3"}).status_code == 201
    sold_out = http["orders"].post("/orders", json={"user_id": "u3", "concert_id": "c3"})
    assert sold_out.status_code == 409 and sold_out.json()["error"] == "sold_out"
    assert http["users"].post("/users/u5/debit", json={"amount": 11}).status_code == 409


def test_grpc_status_codes_mirror_the_rest_ones(channels):
    orders, users = pb_grpc.OrdersStub(channels["orders"]), pb_grpc.UsersStub(channels["users"])
    payments = pb_grpc.PaymentsStub(channels["payments"])
    place = lambda user, concert: orders.PlaceOrder(pb.PlaceOrderRequest(user_id=user, concert_id=concert), timeout=5)
    assert _code(lambda: place("U 1", "c1")) == grpc.StatusCode.INVALID_ARGUMENT
    assert _code(lambda: place("", "c1")) == grpc.StatusCode.INVALID_ARGUMENT
    assert _code(lambda: users.Debit(pb.DebitRequest(user_id="u1", amount=0), timeout=5)) == grpc.StatusCode.INVALID_ARGUMENT
    assert _code(lambda: payments.Charge(pb.ChargeRequest(user_id="u1", amount=2_000_000, reference="r1"),
                                         timeout=5)) == grpc.StatusCode.INVALID_ARGUMENT
    assert _code(lambda: place("u99", "c1")) == grpc.StatusCode.NOT_FOUND
    assert _code(lambda: orders.GetOrder(pb.GetOrderRequest(order_id="o999"), timeout=5)) == grpc.StatusCode.NOT_FOUND
    assert _code(lambda: place("u5", "c3")) == grpc.StatusCode.FAILED_PRECONDITION
    place("u1", "c3"), place("u2", "c3")
    assert _code(lambda: place("u3", "c3")) == grpc.StatusCode.FAILED_PRECONDITION


def test_lesson_clients_raise_the_same_typed_errors_over_both_transports(lab, http):
    for shop in (RestTicketing(lab), GrpcTicketing(lab)):
        with shop:
            shop.reset()
            assert shop.get_user("u1").balance == 1_000_000
            order = shop.place_order("u1", "c1")
            assert shop.get_order(order.id) == order
            with pytest.raises(NotFound):
                shop.get_user("u99")
            with pytest.raises(Conflict) as err:
                shop.place_order("u5", "c1")
            assert err.value.reason == "insufficient_balance"


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_a_bug_is_a_500_without_a_traceback_in_the_answer():
    from fastapi.testclient import TestClient

    from labs.components.ticketing.services.common import new_app
    app = new_app("buggy", "a service with a bug", reset=lambda: None)

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    answer = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert answer.status_code == 500
    assert answer.json() == {"error": "internal", "detail": "internal error in buggy; see its log"}


def _app(name: str):
    from fastapi.testclient import TestClient

    from labs.components.ticketing.services import BUILDERS, common
    return TestClient(BUILDERS[name](common.Dependencies(name)).app)


def test_each_service_counts_the_requests_it_received_and_a_reset_clears_them():
    users = _app("users")
    for _ in range(2):
        users.get("/users/u1")
    users.get("/users/u99")
    users.get("/health")  # admin, health and docs routes are not the API: not counted
    assert users.get("/admin/requests").json() == {"GET /users/u1": 2, "GET /users/u99": 1}
    users.post("/admin/reset")
    assert users.get("/admin/requests").json() == {}


def test_a_concert_carries_an_etag_that_answers_304_until_the_concert_changes():
    concerts = _app("concerts")
    first = concerts.get("/concerts/c2")
    tag = first.headers["etag"]
    assert first.headers["cache-control"] == "max-age=10" and tag.startswith('"')
    for if_none_match in (tag, f"W/{tag}", f'"other", {tag}', "*"):
        again = concerts.get("/concerts/c2", headers={"If-None-Match": if_none_match})
        assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", tag), if_none_match
    assert concerts.get("/concerts/c2", headers={"If-None-Match": '"other"'}).status_code == 200
    concerts.post("/concerts/c2/reservations", json={"user_id": "u1"})
    changed = concerts.get("/concerts/c2", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    assert changed.json()["seats_left"] == first.json()["seats_left"] - 1


# Last in the file: it kills a service (and brings it back).
def test_killing_payments_makes_orders_unavailable_until_the_lab_restarts_it(lab, http):
    rest, grpc_shop = RestTicketing(lab), GrpcTicketing(lab)
    rest.place_order("u1", "c1"), grpc_shop.place_order("u1", "c1")  # channels warm
    seats = rest.get_concert("c1").seats_left
    lab.kill("payments")
    try:
        answer = http["orders"].post("/orders", json={"user_id": "u1", "concert_id": "c1"})
        assert answer.status_code == 503, answer.text
        assert answer.json()["service"] == "payments" and answer.json()["error"] == "unavailable"
        with pytest.raises(Unavailable) as err:
            grpc_shop.place_order("u1", "c1")
        assert err.value.service == "payments"
        stub = pb_grpc.OrdersStub(grpc.insecure_channel(lab.endpoint("orders")["grpc"]))
        assert _code(lambda: stub.PlaceOrder(pb.PlaceOrderRequest(user_id="u1", concert_id="c1"), timeout=5)) \
            == grpc.StatusCode.UNAVAILABLE
        assert rest.get_concert("c1").seats_left == seats, "every failed order released its seat"
    finally:
        labs.start("orders", progress=False)
    assert lab.component("payments").state == "ready"
    assert rest.place_order("u1", "c1").status == "confirmed"
    assert grpc_shop.place_order("u1", "c1").status == "confirmed"
    rest.close(), grpc_shop.close()
