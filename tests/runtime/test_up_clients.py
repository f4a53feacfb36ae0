"""Acceptance: `python -m labs up ... --json` serves real clients, then stops cleanly on SIGTERM."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pika
import pytest
import redis

from labs.clients import kafka as lk
from labs.runtime import is_listening

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 120
STOP_TIMEOUT = 30


def _port(address: str) -> int:
    return urlsplit(address if "://" in address else f"tcp://{address}").port


def _check_rabbitmq(endpoint: dict) -> None:
    conn = pika.BlockingConnection(pika.URLParameters(endpoint["amqp"] + "?connection_attempts=3&socket_timeout=5"))
    try:
        channel = conn.channel()
        queue = channel.queue_declare(queue="", exclusive=True).method.queue
        channel.basic_publish(exchange="", routing_key=queue, body=b"hello amqp")
        body, deadline = None, time.monotonic() + 10
        while body is None and time.monotonic() < deadline:
            _, _, body = channel.basic_get(queue, auto_ack=True)
            if body is None:
                conn.sleep(0.05)
        assert body == b"hello amqp"
    finally:
        conn.close()


def _check_redis(endpoint: dict) -> None:
    client = redis.Redis.from_url(endpoint["url"], socket_timeout=5, decode_responses=True)
    try:
        client.set("labs:greeting", "hello redis")
        assert client.get("labs:greeting") == "hello redis"
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe("labs:news")
        deadline = time.monotonic() + 10
        # Wait for the subscription to be active (a publish before it would reach nobody).
        while client.pubsub_numsub("labs:news")[0][1] < 1 and time.monotonic() < deadline:
            pubsub.get_message(timeout=0.05)
        assert client.publish("labs:news", "extra, extra") == 1
        message = None
        while message is None and time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.2)
        assert message is not None and message["data"] == "extra, extra"
        pubsub.close()
    finally:
        client.close()


def _check_kafka(endpoint: dict) -> None:
    topic = f"up-{uuid.uuid4().hex[:8]}"
    lk.create_topic(endpoint, topic)
    producer = lk.producer(endpoint)
    try:
        producer.send(topic, key="k", value="hello kafka").get(timeout=10)
    finally:
        producer.close(timeout=5)
    consumer = lk.consumer(endpoint, topic, group_id=f"{topic}-group", value_deserializer=lk.TEXT)
    try:
        lk.wait_for_assignment(consumer, timeout=15)
        values, deadline = [], time.monotonic() + 10
        while not values and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                values += [r.value for r in records]
        assert values == ["hello kafka"]
    finally:
        consumer.close()


@pytest.mark.brokers
def test_labs_up_json_serves_pika_redis_and_kafka_then_stops_on_sigterm(tmp_path):
    stderr_path = tmp_path / "up.stderr"
    env = {**os.environ, "LABS_PROGRESS": "0"}
    env.pop("LABS_KAFKA_BOOTSTRAP", None)  # the local broker, whose port must close at the end
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "labs", "up", "rabbitmq", "redis", "kafka", "--json"],
                                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=stderr, text=True)
    lines: list[str] = []
    first_line = threading.Event()

    def read_stdout() -> None:
        for line in proc.stdout:
            lines.append(line)
            first_line.set()
        first_line.set()  # EOF: do not keep the waiter waiting

    reader = threading.Thread(target=read_stdout, daemon=True)
    reader.start()
    try:
        started = time.monotonic()
        assert first_line.wait(READY_TIMEOUT), f"no endpoints within {READY_TIMEOUT} s:\n{stderr_path.read_text()}"
        assert lines, f"`labs up` exited with {proc.poll()} before printing:\n{stderr_path.read_text()}"
        ready_s = time.monotonic() - started
        endpoints = json.loads(lines[0])
        assert set(endpoints) == {"rabbitmq", "redis", "kafka"}
        ports = {"rabbitmq": _port(endpoints["rabbitmq"]["amqp"]), "redis": _port(endpoints["redis"]["url"]),
                 "kafka": _port(endpoints["kafka"]["bootstrap"])}
        for name, port in ports.items():
            assert is_listening(port), f"{name} is not listening on {port}"

        _check_rabbitmq(endpoints["rabbitmq"])
        _check_redis(endpoints["redis"])
        _check_kafka(endpoints["kafka"])

        proc.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        assert proc.wait(timeout=STOP_TIMEOUT) == 0, stderr_path.read_text()
        stop_s = time.monotonic() - stopping
        reader.join(timeout=5)
        assert len(lines) == 1, f"expected exactly one line on stdout, got {lines!r}"
        still_open = {name: port for name, port in ports.items() if is_listening(port)}
        assert not still_open, f"still listening after exit: {still_open}"
        print(f"labs up: ready in {ready_s:.1f} s, stopped in {stop_s:.1f} s")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()  # the runtime's watchdog stops the brokers of a killed owner
                proc.wait(timeout=10)
        proc.stdout.close()
