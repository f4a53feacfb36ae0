"""labs.clients.kafka: argument checks without a broker, then produce / groups / replay on the local broker."""
import time
import uuid
import warnings

import pytest
from kafka import TopicPartition
from kafka.serializer import Deserializer, Serializer

from labs.clients import kafka as lk
from labs.runtime import Lab, LabError


def _topic(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- without a broker -----------------------------------------------------------------

@pytest.mark.parametrize("target, expected", [
    ("127.0.0.1:9092", "127.0.0.1:9092"),
    (" kafka.example:19092 ", "kafka.example:19092"),
    ("a:1, b:2", "a:1,b:2"),
    ("[::1]:9092", "[::1]:9092"),
    ({"bootstrap": "127.0.0.1:5555"}, "127.0.0.1:5555"),
])
def test_bootstrap_accepts_strings_and_endpoint_dicts(target, expected):
    assert lk.bootstrap(target) == expected


@pytest.mark.parametrize("bad, error, fragment", [
    ("localhost", ValueError, "host:port"),
    ("127.0.0.1:0", ValueError, "1-65535"),
    ("127.0.0.1:70000", ValueError, "1-65535"),
    ("", ValueError, "host:port"),
    ({"amqp": "amqp://x"}, ValueError, "'bootstrap'"),
    (9092, TypeError, "Lab, an endpoint dict"),
    (None, TypeError, "Lab, an endpoint dict"),
])
def test_bootstrap_refuses_what_is_not_an_address(bad, error, fragment):
    with pytest.raises(error, match=fragment):
        lk.bootstrap(bad)


def test_a_lab_without_kafka_is_named_in_the_error():
    lab = Lab("local", {})
    with pytest.raises(LabError, match=r"no kafka component.*labs.start\('kafka'\)"):
        lk.bootstrap(lab)
    with pytest.raises(LabError, match="no kafka component"):
        lk.producer(lab)


@pytest.mark.parametrize("bad", [0, 65, -1, 2.0, "2", True, None])
def test_partitions_outside_1_to_64_are_refused_before_connecting(bad):
    # The address is never contacted: validation comes first.
    with pytest.raises(ValueError, match="from 1 to 64"):
        lk.create_topic("127.0.0.1:1", "orders", partitions=bad)


@pytest.mark.parametrize("bad", ["", "with space", "ü", "x" * 250, "..", 7])
def test_bad_topic_names_are_refused(bad):
    with pytest.raises(ValueError, match="topic name"):
        lk.create_topic("127.0.0.1:1", bad)
    with pytest.raises(ValueError, match="topic name"):
        lk.consumer("127.0.0.1:1", bad)


@pytest.mark.parametrize("bad", [0, -1, 601, "5", None, True])
def test_wait_for_assignment_refuses_bad_timeouts(bad):
    with pytest.raises(ValueError, match="above 0 and up to 600"):
        lk.wait_for_assignment(None, timeout=bad)


def test_settings_depend_on_which_broker(monkeypatch):
    monkeypatch.delenv("LABS_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.delenv("LABS_BACKEND", raising=False)
    assert lk.consumer_settings("127.0.0.1:9092") == lk.CONSUMER_SETTINGS
    assert lk.CONSUMER_SETTINGS["session_timeout_ms"] == 2000
    assert lk.CONSUMER_SETTINGS["heartbeat_interval_ms"] == 200
    assert lk.CONSUMER_SETTINGS["auto_offset_reset"] == "earliest"
    monkeypatch.setenv("LABS_KAFKA_BOOTSTRAP", "kafka.example:9092")
    assert lk.is_local_broker("127.0.0.1:9092")
    assert not lk.is_local_broker("kafka.example:9092")
    assert lk.consumer_settings({"bootstrap": "kafka.example:9092"})["session_timeout_ms"] >= 6000
    monkeypatch.delenv("LABS_KAFKA_BOOTSTRAP")
    monkeypatch.setenv("LABS_BACKEND", "docker")
    assert not lk.is_local_broker("127.0.0.1:9092")


def test_codecs_work_with_both_kafka_python_calling_conventions():
    for codec in (lk.TEXT, lk.JSON):
        assert isinstance(codec, Serializer) and isinstance(codec, Deserializer)
    assert lk.TEXT.serialize("t", [], "héllo") == "héllo".encode()   # kafka-python 3
    assert lk.TEXT.serialize("t", b"raw") == b"raw"                  # kafka-python 2
    assert lk.TEXT.serialize("t", [], None) is None
    assert lk.TEXT.deserialize("t", [], "héllo".encode()) == "héllo"
    assert lk.JSON.deserialize("t", lk.JSON.serialize("t", [], {"a": [1, 2]})) == {"a": [1, 2]}
    with pytest.raises(TypeError, match="str or bytes"):
        lk.TEXT.serialize("t", [], {"a": 1})


def test_differences_are_short_sentences():
    assert len(lk.TANSU_DIFFERENCES) >= 5
    for line in lk.TANSU_DIFFERENCES:
        assert isinstance(line, str) and 20 < len(line) < 400


# --- on the local broker ------------------------------------------------------------

def _drain(consumers, want: int, timeout: float = 20.0) -> dict:
    """Poll every consumer in turn until `want` records in all arrived; {consumer index: [values]}."""
    got = {i: [] for i in range(len(consumers))}
    deadline = time.monotonic() + timeout
    while sum(map(len, got.values())) < want and time.monotonic() < deadline:
        for i, c in enumerate(consumers):
            for records in c.poll(timeout_ms=100).values():
                got[i] += [r.value for r in records]
    return got


@pytest.mark.brokers
def test_produce_with_the_helper(brokers):
    topic = _topic("produce")
    assert lk.create_topic(brokers, topic) == 1
    assert lk.create_topic(brokers, topic) == 1          # idempotent
    with pytest.raises(LabError, match="already exists with 1 partition"):
        lk.create_topic(brokers, topic, partitions=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)   # no "does not implement Serializer"
        producer = lk.producer(brokers)
        try:
            metas = [producer.send(topic, key="k", value=f"m{i}") for i in range(5)]
            metas.append(producer.send(topic, value=b"bytes too"))
            offsets = [m.get(timeout=10).offset for m in metas]
        finally:
            producer.close(timeout=5)
    assert offsets == list(range(6))


@pytest.mark.brokers
def test_two_members_share_a_two_partition_topic_and_replay_from_the_beginning(brokers):
    topic, group, n = _topic("shared"), _topic("group"), 40
    lk.create_topic(brokers, topic, partitions=2)
    a = lk.consumer(brokers, topic, group_id=group, value_deserializer=lk.TEXT)
    b = lk.consumer(brokers, topic, group_id=group, value_deserializer=lk.TEXT)
    replay = None
    try:
        lk.wait_for_assignment(a)
        # b's join makes a rebalance that finishes only when both members poll.
        deadline = time.monotonic() + 20
        while not (len(a.assignment()) == 1 and len(b.assignment()) == 1) and time.monotonic() < deadline:
            a.poll(timeout_ms=100)
            b.poll(timeout_ms=100)
        assert len(a.assignment()) == len(b.assignment()) == 1, (a.assignment(), b.assignment())
        assert a.assignment() | b.assignment() == {TopicPartition(topic, 0), TopicPartition(topic, 1)}

        producer = lk.producer(brokers)
        try:
            for i in range(n):
                producer.send(topic, value=f"m{i}", partition=i % 2)
            producer.flush(timeout=10)
        finally:
            producer.close(timeout=5)

        got = _drain([a, b], n)
        everything = got[0] + got[1]
        assert sorted(everything) == sorted(f"m{i}" for i in range(n))   # each exactly once
        assert len(got[0]) == len(got[1]) == n // 2                       # one partition each

        # Another consumer, outside the group, reads the whole topic again.
        replay = lk.consumer(brokers, value_deserializer=lk.TEXT)
        replay.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
        replay.seek_to_beginning()
        again = _drain([replay], n)[0]
        assert sorted(again) == sorted(everything)
    finally:
        for c in (a, b, replay):
            if c is not None:
                c.close()


@pytest.mark.brokers
def test_a_group_join_is_quick_with_the_helper_settings(brokers):
    topic = _topic("join")
    lk.create_topic(brokers, topic, partitions=2)
    started = time.monotonic()
    c = lk.consumer(brokers, topic, group_id=_topic("join-group"))
    try:
        assigned = lk.wait_for_assignment(c, timeout=15)
        elapsed = time.monotonic() - started
    finally:
        c.close()
    assert assigned == {TopicPartition(topic, 0), TopicPartition(topic, 1)}
    assert elapsed < 10, f"group join took {elapsed:.1f} s"


@pytest.mark.brokers
def test_a_poll_loop_with_pauses_still_joins(brokers):
    # kafka-python 3.0.12 alone re-joins forever here: the ~1 s join finishes during a sleep and
    # the next poll() throws it away. The helper's consumers keep the finished join.
    topic = _topic("pauses")
    lk.create_topic(brokers, topic)
    c = lk.consumer(brokers, topic, group_id=_topic("pauses-group"))
    try:
        deadline = time.monotonic() + 10
        while not c.assignment() and time.monotonic() < deadline:
            c.poll(timeout_ms=100)
            time.sleep(0.2)
        assert c.assignment() == {TopicPartition(topic, 0)}
    finally:
        c.close()


@pytest.mark.brokers
def test_wait_for_assignment_keeps_records_it_fetched(brokers):
    topic = _topic("keep")
    lk.create_topic(brokers, topic)
    producer = lk.producer(brokers)
    try:
        for i in range(3):
            producer.send(topic, value=f"r{i}")
        producer.flush(timeout=10)
    finally:
        producer.close(timeout=5)
    c = lk.consumer(brokers, topic, group_id=_topic("keep-group"), value_deserializer=lk.TEXT)
    try:
        lk.wait_for_assignment(c)
        assert _drain([c], 3)[0] == ["r0", "r1", "r2"]
    finally:
        c.close()


@pytest.mark.brokers
def test_wait_for_assignment_names_the_group_when_it_times_out(brokers):
    topic, group = _topic("stuck"), _topic("stuck-group")
    lk.create_topic(brokers, topic)
    # Default kafka-python session timeout: the local broker needs ~23 s for this join.
    c = lk.consumer(brokers, topic, group_id=group, session_timeout_ms=45000, heartbeat_interval_ms=3000)
    try:
        with pytest.raises(TimeoutError, match=group):
            lk.wait_for_assignment(c, timeout=1)
    finally:
        c.close(autocommit=False, timeout_ms=1000)  # a plain close() waits for the join to finish
