"""Kafka clients set up for the lab's broker, and where the local broker differs from Apache Kafka.

Layer: clients (imports labs.runtime and kafka-python).

    import labs
    from labs.clients import kafka as lk
    lab = labs.start("kafka")
    lk.create_topic(lab, "orders", partitions=2)
    p = lk.producer(lab)                       # values and keys: str or bytes
    p.send("orders", key="user-1", value="created"); p.flush()
    c = lk.consumer(lab, "orders", group_id="billing")
    lk.wait_for_assignment(c)                  # ~1 s on the local broker
    c.poll(timeout_ms=1000)                    # values come back as bytes

Values are bytes on the wire. The producer encodes str as UTF-8 and passes bytes through; the
consumer hands back bytes unless you pass `value_deserializer=TEXT` (str) or `JSON`.
"""
from __future__ import annotations

import inspect
import json
import os
import re
import time
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.serializer import Deserializer, Serializer

from ..runtime import Lab, LabError, args

MIN_PARTITIONS, MAX_PARTITIONS = 1, 64

# Tansu completes a group join after about session_timeout_ms / 2: 23 s with kafka-python's
# default of 45 s, ~1.1 s with 2 s. heartbeat_interval_ms must stay well below the session
# timeout; 200 ms lets an existing member notice a rebalance quickly. kafka-python needs
# nothing else changed to accept these values.
CONSUMER_SETTINGS: dict[str, Any] = {
    "session_timeout_ms": 2000,
    "heartbeat_interval_ms": 200,
    "auto_offset_reset": "earliest",
}

# Apache Kafka rejects a session timeout below the broker's group.min.session.timeout.ms
# (6000 by default), so consumers of a real Kafka get these instead.
APACHE_KAFKA_CONSUMER_SETTINGS: dict[str, Any] = {
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
    "auto_offset_reset": "earliest",
}

PRODUCER_SETTINGS: dict[str, Any] = {"acks": "all", "linger_ms": 5}

# Each entry was checked against Tansu 0.6.0 with kafka-python 3.0.12 (docs/kafka-local-broker.md).
TANSU_DIFFERENCES: list[str] = [
    "Storage is in memory: stopping or restarting the broker loses every topic, message and committed offset.",
    "A consumer-group join or rebalance takes about session_timeout_ms / 2 (23 s with kafka-python's "
    "defaults); the helper's consumers use session_timeout_ms=2000, which makes it ~1 s.",
    "Apache Kafka refuses session_timeout_ms below 6000 (group.min.session.timeout.ms); Tansu accepts it.",
    "end_offsets(), seek_to_end(), auto_offset_reset='latest' and consumer lag use the last batch's base "
    "offset + 1, so they are wrong when that batch held several records; seek_to_end() then re-reads the "
    "rest of that batch. A producer with batch_size=1 avoids it, at ~1/20 of the throughput.",
    "Topic configs such as retention.ms are accepted but not enforced (records stay), and describe_configs "
    "reports none of them.",
    "No create_partitions: choose the partition count when you create the topic.",
    "offsets_for_times() answers offset 0 with timestamp -1 for a partition holding no record at or after "
    "the time (Apache Kafka answers None); treat timestamp -1 as 'nothing that recent'.",
    "delete_records drops the client's connection instead of deleting records.",
    "kafka-python's describe_groups fails to parse the answer; list_groups (state 'Unknown') and "
    "list_group_offsets work.",
    "Producing to an unknown topic creates it with 4 partitions (Apache Kafka: num.partitions, 1 by default).",
    "One broker: any replication factor is accepted and every partition has a single replica "
    "(Apache Kafka refuses a factor above its number of brokers).",
    "If the group's leader leaves with close() while a rebalance waits for it to poll(), the group never "
    "finishes that rebalance, not even for new members (a follower leaving or any member crashing recovers "
    "in seconds); use a new group_id.",
]

_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")
_HOST_PORT = re.compile(r"^\[?[A-Za-z0-9._:-]+?\]?:(\d{1,5})$")


class _Codec(Serializer, Deserializer):
    """Works with kafka-python 2.x, which calls serialize(topic, data), and 3.x, which calls
    serialize(topic, headers, data); being a Serializer avoids 3.x's DeprecationWarning."""

    def serialize(self, topic: str, *args: Any) -> bytes | None:
        return None if args[-1] is None else self.encode(args[-1])

    def deserialize(self, topic: str, *args: Any) -> Any:
        return None if args[-1] is None else self.decode(args[-1])

    def encode(self, data: Any) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:
        raise NotImplementedError


class Text(_Codec):
    """str <-> UTF-8 bytes; bytes pass through unchanged when producing."""

    def encode(self, data: Any) -> bytes:
        if isinstance(data, (bytes, bytearray, memoryview)):
            return bytes(data)
        if isinstance(data, str):
            return data.encode("utf-8")
        raise TypeError(f"send str or bytes, not {type(data).__name__}; for a dict use "
                        f"value_serializer=labs.clients.kafka.JSON or json.dumps(...)")

    def decode(self, data: bytes) -> str:
        return bytes(data).decode("utf-8")


class Json(_Codec):
    """Any JSON-serialisable value <-> UTF-8 JSON bytes."""

    def encode(self, data: Any) -> bytes:
        return json.dumps(data).encode("utf-8")

    def decode(self, data: bytes) -> Any:
        return json.loads(bytes(data).decode("utf-8"))


TEXT, JSON = Text(), Json()


def bootstrap(target: Lab | dict | str) -> str:
    """The "host:port" of a Kafka broker, from a Lab, an endpoint dict or a string."""
    if isinstance(target, Lab):
        if "kafka" not in target.names:
            raise LabError(f"this lab has no kafka component (it has: {', '.join(target.names) or 'nothing'}); "
                           f"start one with labs.start('kafka')")
        target = target.endpoint("kafka")
    if isinstance(target, dict):
        if not isinstance(target.get("bootstrap"), str):
            raise ValueError(f"a Kafka endpoint dict needs a 'bootstrap' string, got keys {sorted(target)}")
        target = target["bootstrap"]
    if not isinstance(target, str):
        raise TypeError(f"expected a Lab, an endpoint dict or 'host:port', got {type(target).__name__}")
    servers = [s.strip() for s in target.split(",")]
    for server in servers:
        match = _HOST_PORT.match(server)
        if not match or not 1 <= int(match.group(1)) <= 65535:
            raise ValueError(f"expected 'host:port' (port 1-65535), got {server!r}")
    return ",".join(servers)


def is_local_broker(target: Lab | dict | str) -> bool:
    """True when `target` is the lab's local Tansu broker rather than an Apache Kafka."""
    if isinstance(target, Lab):
        component = target.component("kafka")
        if getattr(component, "external", False):
            return False
        # The docker backend runs apache/kafka, except where compose.offline.yaml stands Tansu in for it.
        command = (getattr(component, "config", None) or {}).get("command") or []
        return getattr(component, "backend", "local") == "local" or "tansu" in command
    external = os.environ.get("LABS_KAFKA_BOOTSTRAP", "").strip()
    address = bootstrap(target)
    if external and address in (external, ",".join(s.strip() for s in external.split(","))):
        return False
    return os.environ.get("LABS_BACKEND", "local") != "docker"


def consumer_settings(target: Lab | dict | str) -> dict[str, Any]:
    """CONSUMER_SETTINGS for the local broker, APACHE_KAFKA_CONSUMER_SETTINGS otherwise."""
    return dict(CONSUMER_SETTINGS if is_local_broker(target) else APACHE_KAFKA_CONSUMER_SETTINGS)


def producer(lab: Lab | dict | str, **overrides: Any) -> KafkaProducer:
    """A KafkaProducer with acks="all", a 5 ms linger and str/bytes keys and values."""
    config: dict[str, Any] = {"bootstrap_servers": bootstrap(lab), **PRODUCER_SETTINGS,
                              "key_serializer": TEXT, "value_serializer": TEXT}
    config.update(overrides)
    return KafkaProducer(**config)


def consumer(lab: Lab | dict | str, *topics: str, group_id: str | None = None, **overrides: Any) -> KafkaConsumer:
    """A KafkaConsumer subscribed to `topics` with settings that make group joins fast.

    Keys and values come back as bytes unless you pass key/value_deserializer (TEXT, JSON).
    """
    for topic in topics:
        check_topic_name(topic)
    if group_id is not None and (not isinstance(group_id, str) or not group_id):
        raise ValueError(f"group_id must be a non-empty string or None, got {group_id!r}")
    config: dict[str, Any] = {"bootstrap_servers": bootstrap(lab), **consumer_settings(lab), "group_id": group_id}
    config.update(overrides)
    client = KafkaConsumer(*topics, **config)
    _keep_finished_joins(client)
    return client


def admin(lab: Lab | dict | str, **overrides: Any) -> KafkaAdminClient:
    """A KafkaAdminClient for the lab's broker; close() it when done."""
    config: dict[str, Any] = {"bootstrap_servers": bootstrap(lab), "request_timeout_ms": 10_000}
    config.update(overrides)
    return KafkaAdminClient(**config)


def create_topic(lab: Lab | dict | str, name: str, partitions: int = 1) -> int:
    """Create a topic unless it exists; return its partition count.

    Raises LabError if it already exists with a different count (partitions cannot be added
    on the local broker: delete the topic or pick another name).
    """
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    check_topic_name(name)
    if isinstance(partitions, bool) or not isinstance(partitions, int) or not (
            MIN_PARTITIONS <= partitions <= MAX_PARTITIONS):
        raise ValueError(f"partitions must be a whole number from {MIN_PARTITIONS} to {MAX_PARTITIONS}, "
                         f"got {partitions!r}")
    client = admin(lab)
    try:
        try:
            client.create_topics([NewTopic(name, partitions, 1)])
        except TopicAlreadyExistsError:
            pass
        existing = _partition_count(client, name)
    finally:
        client.close()
    if existing is not None and existing != partitions:
        raise LabError(f"topic {name!r} already exists with {existing} partition(s), not {partitions}; "
                       f"delete it (admin(lab).delete_topics([{name!r}])) or use another name")
    return partitions if existing is None else existing


def partitions(lab: Lab | dict | str, topic: str) -> list[TopicPartition]:
    """Every partition of `topic` (for assign()); ValueError when the topic does not exist."""
    check_topic_name(topic)
    client = admin(lab)
    try:
        count = _partition_count(client, topic)
    finally:
        client.close()
    if not count:
        raise ValueError(f"topic {topic!r} does not exist; create it with create_topic(lab, {topic!r}, partitions=...)")
    return [TopicPartition(topic, p) for p in range(count)]


def wait_for_assignment(consumer: KafkaConsumer, timeout: float = 10.0) -> set[TopicPartition]:
    """Poll until the consumer has partitions; return them. Records fetched meanwhile are not lost:
    the consumer is moved back to them, so the next poll() returns them again."""
    args.positive_seconds("timeout", timeout, 600)
    deadline = time.monotonic() + timeout
    while not consumer.assignment():
        left = deadline - time.monotonic()
        if left <= 0:
            group = consumer.config.get("group_id")
            raise TimeoutError(
                f"consumer of group {group!r} got no partitions within {timeout:g} s. On the local broker a "
                f"join takes about session_timeout_ms / 2 (now {consumer.config.get('session_timeout_ms')} ms), "
                f"and a rebalance waits for every member of the group to poll()")
        fetched = consumer.poll(timeout_ms=max(1, min(100, int(left * 1000))))
        for tp, records in fetched.items():
            if records:
                consumer.seek(tp, records[0].offset)
    return set(consumer.assignment())


def _keep_finished_joins(client: KafkaConsumer) -> None:
    """Work around kafka-python 3.0.x dropping a group join that finished between two poll() calls.

    Its coordinator sends a fresh JoinGroup whenever the previous join task is already done, even
    when that task succeeded. A join takes ~1 s on the local broker, so a loop like
    `poll(timeout_ms=100); time.sleep(0.2)`, or two consumers polled in turn, can re-join forever
    and never get partitions. This consumes the finished join instead, as poll() would have.
    """
    coordinator = getattr(client, "_coordinator", None)
    original = getattr(coordinator, "join_group_async", None)
    try:
        from kafka.coordinator.base import MemberState
    except ImportError:
        return
    if original is None or not inspect.iscoroutinefunction(original) or not all(
            hasattr(coordinator, a) for a in ("_join_task", "_generation", "_on_join_complete_async",
                                              "_enable_heartbeat", "_lock", "rejoining", "rejoin_needed")):
        return  # another kafka-python: leave it alone

    async def join_group_async(timeout_ms: float | None = None) -> bool:
        task = coordinator._join_task
        if task is not None and getattr(task, "is_done", False) and task.succeeded() and coordinator.need_rejoin():
            coordinator._join_task = None
            with coordinator._lock:
                coordinator.rejoining = False
                coordinator.rejoin_needed = False
                coordinator.state = MemberState.STABLE
                coordinator._enable_heartbeat()
            generation = coordinator._generation
            await coordinator._on_join_complete_async(generation.generation_id, generation.member_id,
                                                      generation.protocol, task.value)
            return True
        return await original(timeout_ms=timeout_ms)

    coordinator.join_group_async = join_group_async


def check_topic_name(name: object) -> None:
    """ValueError unless `name` is a valid Kafka topic name."""
    if not isinstance(name, str) or not _TOPIC_NAME.fullmatch(name) or name in (".", ".."):
        raise ValueError(f"a topic name is 1-249 characters from a-z, A-Z, 0-9, '.', '_' and '-', got {name!r}")


_check_topic_name = check_topic_name  # the name it had before it was public


def _partition_count(client: KafkaAdminClient, name: str) -> int | None:
    for topic in client.describe_topics([name]):
        if topic.get("name", topic.get("topic")) == name and topic.get("partitions"):
            return len(topic["partitions"])
    return None
