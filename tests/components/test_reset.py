"""lab.reset(): after state is broken in every component, a lesson run behaves as on a new lab.

The "lesson" below touches every component the way lessons do and returns what it observed. It is
run on a fresh lab, then again after state was broken everywhere (it must differ: the test sees the
broken state) and after `lab.reset()` (it must equal the fresh run)."""
import time
import uuid

import httpx
import pika
import pytest
import redis
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

import labs
from labs import chaos, trace
from labs.clients.faults import FaultRules
from labs.clients.ticketing import DomainError, RestTicketing
from labs.runtime import component_names
from labs.runtime.errors import LabError

pytestmark = pytest.mark.brokers
QUEUE, TOPIC, GROUP, PROXY = "reset-orders", "reset-events", "reset-readers", "reset-users"


@pytest.fixture(scope="module")
def lab():
    lab = labs.start(progress=False)
    lab.reset()
    yield lab


def _lesson(lab) -> dict:
    """One short run through every component, as a lesson's cells would do it."""
    seen = {}
    conn = pika.BlockingConnection(pika.URLParameters(lab.endpoint("rabbitmq")["amqp"]))
    ch = conn.channel()
    ch.queue_declare(QUEUE, durable=True)
    ch.basic_publish("", QUEUE, b"order 1")
    time.sleep(0.05)
    seen["queue depth"] = ch.queue_declare(QUEUE, durable=True, passive=True).method.message_count
    _, _, seen["first message"] = ch.basic_get(QUEUE, auto_ack=False)
    conn.close()

    r = redis.Redis.from_url(lab.endpoint("redis")["url"])
    r.incr("visits")
    seen["redis visits"], seen["redis keys"] = int(r.get("visits")), r.dbsize()
    r.close()

    bootstrap = lab.endpoint("kafka")["bootstrap"]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    if TOPIC not in admin.list_topics():
        admin.create_topics([NewTopic(TOPIC, 1, 1)])
    seen["topics"] = sorted(t for t in admin.list_topics() if not t.startswith("__"))
    admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    producer.send(TOPIC, b"placed").get(timeout=10)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=GROUP, enable_auto_commit=False,
                             consumer_timeout_ms=3000)
    tp = TopicPartition(TOPIC, 0)
    consumer.assign([tp])
    seen["committed offset"] = consumer.committed(tp)
    consumer.seek_to_beginning(tp)
    seen["records"] = [rec.value for rec in consumer]
    consumer.commit()
    consumer.close()

    with RestTicketing(lab) as shop:
        with trace.record() as run:
            try:
                order = shop.place_order("u1", "c1")
                seen["order"] = (order.status, order.amount)
            except DomainError as exc:
                seen["order"] = ("failed", exc.reason)
        seen["balance"] = shop.get_user("u1").balance
        seen["seats left"] = shop.get_concert("c1").seats_left
    seen["spans"] = len(run.spans)

    # A proxy made in an earlier cell is used as it is (chaos.proxy() would clear its toxics).
    server = chaos.server()
    proxy = server.get(PROXY) if PROXY in server.proxies() else chaos.proxy(lab, "users", name=PROXY)
    with httpx.Client(base_url=f"http://{proxy.address}") as api:
        started = time.perf_counter()
        api.get("/health").raise_for_status()
        seen["through the proxy"] = "slow" if time.perf_counter() - started > 0.25 else "fast"
    return seen


def _break_everything(lab) -> None:
    conn = pika.BlockingConnection(pika.URLParameters(lab.endpoint("rabbitmq")["amqp"]))
    ch = conn.channel()
    ch.queue_declare(QUEUE, durable=True)
    for i in range(100):
        ch.basic_publish("", QUEUE, f"stale {i}".encode())
    ch.exchange_declare("reset-fanout", "fanout")
    ch.queue_bind(QUEUE, "reset-fanout")
    conn.close()
    r = redis.Redis.from_url(lab.endpoint("redis")["url"])
    r.set("visits", 41)
    r.set(f"junk-{uuid.uuid4().hex}", 1)
    r.close()
    admin = KafkaAdminClient(bootstrap_servers=lab.endpoint("kafka")["bootstrap"])
    admin.create_topics([NewTopic(f"leftover-{uuid.uuid4().hex[:6]}", 2, 1)])
    admin.close()
    chaos.server().get(PROXY).add("latency", latency=400, name=f"slow-{uuid.uuid4().hex[:6]}")
    FaultRules(lab, "payments").add("POST /payments", error_rate=1.0, http_status=503)
    with RestTicketing(lab) as shop:
        httpx.post(lab.endpoint("concerts")["http"] + "/concerts/c1/reservations",
                   json={"user_id": "u2"}).raise_for_status()  # a seat reserved
        assert shop.get_concert("c1").seats_left >= 0


def test_reset_brings_every_component_back_to_a_new_labs_state(lab):
    fresh = _lesson(lab)
    assert fresh["queue depth"] == 1 and fresh["records"] == [b"placed"] and fresh["redis visits"] == 1
    assert fresh["order"][0] == "confirmed" and fresh["through the proxy"] == "fast"

    _break_everything(lab)
    broken = _lesson(lab)
    differs = {k for k in fresh if broken[k] != fresh[k]}
    # the world differs, and the lesson sees it: stale messages, keys, topics, the toxic, the fault
    assert {"queue depth", "redis visits", "topics", "records", "committed offset", "order",
            "through the proxy"} <= differs

    _break_everything(lab)
    report = lab.reset()
    print(report)
    assert set(report) == {*lab.names, "traces"}
    assert sum(f.stat().st_size for f in labs.runtime.trace_dir().iterdir()) == 0  # trace store emptied
    again = _lesson(lab)
    assert again == fresh


def test_reset_of_one_component_and_bad_names(lab):
    lab.reset("redis")
    r = redis.Redis.from_url(lab.endpoint("redis")["url"])
    r.set("x", 1)
    assert lab.reset("redis") == {"redis": "flushed (1 key)"}
    assert r.dbsize() == 0
    r.close()
    with pytest.raises(LabError, match="not part of this lab; it has: rabbitmq"):
        lab.reset("rabbit")


def test_every_registered_component_has_a_reset_hook_or_says_it_has_nothing_to_reset(lab):
    # A component without state of its own may keep the default hook; every one here has state.
    stateless = {"graphql", "haproxy", "dns"}  # the gateway's plan, the pool and DNS come from others' state
    for name in component_names():
        spec = labs.runtime.get_spec(name)
        has_hook = type(spec).reset is not labs.runtime.ComponentSpec.reset
        assert has_hook or name in stateless, f"{name} has no reset hook: lab.reset() would leave its state"


def test_a_killed_component_is_started_again_by_reset(lab):
    lab.kill("notifications")
    report = lab.reset("notifications")
    assert report["notifications"] == "seed data restored, fault rules removed"
    assert lab.component("notifications").alive()


def test_the_admin_reset_route_refuses_what_it_does_not_know(lab):
    base = lab.endpoint("users")["http"]
    assert httpx.get(base + "/admin/reset").status_code == 405
    assert httpx.post(base + "/admin/reset", json={"x": 1}).status_code == 200  # no body is read


def test_the_later_lessons_components_are_reset_too(lab):
    """Lessons 06-08: a leftover etcd key, subgraph batching off, a BFF fault rule, gateway counters."""
    import base64
    b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    etcd, graph = lab.endpoint("etcd")["url"], lab.endpoint("users-graph")["http"]
    admin = lab.endpoint("gateway")["admin"]

    def world() -> dict:
        kvs = httpx.post(etcd + "/v3/kv/range", json={"key": b64("/reset/"), "range_end": b64("/reset0")}
                         ).json().get("kvs", [])
        stats = httpx.get(admin + "/stats", params={"filter": "downstream_rq_total", "format": "json"}).json()
        return {"etcd keys": sorted(base64.b64decode(kv["key"]) for kv in kvs),
                "batching": httpx.get(graph + "/admin/queries").json().get("batching"),
                "bff rules": len(httpx.get(lab.endpoint("bff")["http"] + "/admin/faults").json()),
                "gateway requests": sum(s.get("value", 0) for s in stats["stats"] if "value" in s)}

    lab.reset()
    fresh = world()
    lease = httpx.post(etcd + "/v3/lease/grant", json={"TTL": 60}).json()["ID"]
    httpx.post(etcd + "/v3/kv/put", json={"key": b64("/reset/plain"), "value": b64("1")}).raise_for_status()
    httpx.post(etcd + "/v3/kv/put", json={"key": b64("/reset/leased"), "value": b64("1"), "lease": lease}
               ).raise_for_status()
    httpx.post(graph + "/admin/batching", json={"enabled": False}).raise_for_status()
    FaultRules(lab, "bff").add("GET /v1/screens/me", error_rate=1.0, http_status=503)
    for _ in range(5):
        httpx.get(lab.endpoint("gateway")["http"] + "/health")
    broken = world()
    assert broken != fresh and broken["etcd keys"] == [b"/reset/leased", b"/reset/plain"]
    lab.reset()
    after = world()
    # the leased key is a registration a live lease keeps: it stays, the plain one goes
    assert after == {**fresh, "etcd keys": [b"/reset/leased"], "gateway requests": after["gateway requests"]}
    assert after["gateway requests"] < broken["gateway requests"]
