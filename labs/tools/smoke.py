"""One real request per component, to prove it answers in its own protocol.

Layer: tools.
"""
from __future__ import annotations

import time
import uuid


def _rabbitmq(endpoint: dict) -> None:
    import pika
    conn = pika.BlockingConnection(pika.URLParameters(endpoint["amqp"]))
    try:
        ch = conn.channel()
        queue = ch.queue_declare("", exclusive=True).method.queue
        body = uuid.uuid4().bytes
        ch.basic_publish("", queue, body)
        for _ in range(50):  # basic_get may run before the broker has routed the message
            _, _, got = ch.basic_get(queue, auto_ack=True)
            if got is not None:
                break
            time.sleep(0.01)
        if got != body:
            raise RuntimeError("the message did not come back from the queue")
    finally:
        conn.close()


def _redis(endpoint: dict) -> None:
    import redis
    client = redis.Redis.from_url(endpoint["url"], socket_timeout=2)
    try:
        key, value = f"smoke:{uuid.uuid4().hex}", uuid.uuid4().hex
        client.set(key, value, ex=60)
        if client.get(key) != value.encode():
            raise RuntimeError("GET did not return what SET stored")
    finally:
        client.close()


def _kafka(endpoint: dict) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    topic, value = f"smoke-{uuid.uuid4().hex[:8]}", uuid.uuid4().bytes
    producer = KafkaProducer(bootstrap_servers=endpoint["bootstrap"], acks="all")
    try:
        meta = producer.send(topic, value).get(timeout=10)
    finally:
        producer.close()
    consumer = KafkaConsumer(bootstrap_servers=endpoint["bootstrap"], enable_auto_commit=False,
                             consumer_timeout_ms=5000)
    try:
        tp = TopicPartition(topic, meta.partition)
        consumer.assign([tp])
        consumer.seek(tp, meta.offset)
        for record in consumer:
            if record.value == value:
                return
        raise RuntimeError("the record did not come back from the log")
    finally:
        consumer.close()


def _service(endpoint: dict) -> None:
    """A lab service: its HTTP /health and its gRPC health check, whichever it has."""
    from ..runtime.probes import grpc_health, http_health
    if "http" in endpoint:
        http_health(endpoint["http"])
    if "grpc" in endpoint:
        grpc_health(endpoint["grpc"])


def _etcd(endpoint: dict) -> None:
    """A put and a get through etcd's HTTP gateway (what the registry of lesson 07 does)."""
    from ..clients.registry import Registry
    from urllib.parse import urlsplit
    url = urlsplit(endpoint["url"])
    client = Registry(host=url.hostname, port=url.port, timeout=2, api_path="/v3/")
    key, value = f"/labs/smoke/{uuid.uuid4().hex}", uuid.uuid4().hex
    client.put(key, value)
    try:
        if client.get(key) != [value.encode()]:
            raise RuntimeError("GET did not return what PUT stored")
    finally:
        client.delete(key)


def _dns(endpoint: dict) -> None:
    """One question over UDP; "no such name" is an answer too."""
    import dns.message
    import dns.query
    import dns.rcode

    from ..components.registry.dns import ZONE
    host, port = endpoint["udp"].rsplit(":", 1)
    answer = dns.query.udp(dns.message.make_query(f"smoke.{ZONE}", "A"), host, port=int(port), timeout=2)
    if answer.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        raise RuntimeError(f"the DNS server answered {dns.rcode.to_text(answer.rcode())}")


def _haproxy(endpoint: dict) -> None:
    """HAProxy's stats page (its pool may be empty, so not a call through it)."""
    import httpx
    httpx.get(endpoint["stats"] + ";csv", timeout=2).raise_for_status()


ROUNDTRIPS = {"rabbitmq": _rabbitmq, "redis": _redis, "kafka": _kafka, "etcd": _etcd, "dns": _dns,
              "haproxy": _haproxy}


def _probe(name: str, lab):
    """Any other component: its own readiness probe, a request in its own protocol."""
    from ..runtime import get_spec
    spec, options = get_spec(name), lab.component(name).options
    return lambda endpoint: spec.probe(endpoint, options)


def roundtrip(lab, name: str) -> float:
    """Seconds one real request-and-answer takes on component `name` of `lab`: a write then a
    read for the brokers, the health checks (HTTP and gRPC) for the lab's services, and for a
    component this module does not know, its own readiness probe (so new components join)."""
    endpoint = lab.endpoint(name)
    check = ROUNDTRIPS.get(name) or (_service if {"http", "grpc"} & set(endpoint) else _probe(name, lab))
    started = time.perf_counter()
    check(endpoint)
    return time.perf_counter() - started
