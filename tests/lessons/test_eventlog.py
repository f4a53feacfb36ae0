"""Lesson 11's modules (labs.lessons.eventlog, .consumer_groups, .at_least_once): events, projections and the
charge ledger without a broker; replay, groups,
crashes and the queue comparison on the real brokers."""
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import namedtuple

import psutil
import pytest

from labs.lessons import at_least_once, consumer_groups, eventlog
from labs.runtime.child import ChildExited
from labs.clients import kafka as lk

Record = namedtuple("Record", "topic partition offset key value timestamp headers")


def _event(n: int, kind: str = "OrderPlaced", concert: str = "c2", user: str = "u1") -> eventlog.OrderEvent:
    return eventlog.OrderEvent(f"e{n}", kind, f"o{n}", user, concert, 60)


def _topic(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- without a broker -----------------------------------------------------------------

def test_an_event_survives_json_and_refuses_unknown_types():
    event = _event(1)
    assert eventlog.OrderEvent.from_json(event.to_json()) == event
    assert eventlog.event_of(Record("t", 0, 0, b"o1", event.to_json().encode(), 0, [])) == event
    with pytest.raises(ValueError, match="OrderPlaced, OrderCancelled"):
        eventlog.OrderEvent("e1", "OrderShipped", "o1", "u1", "c1", 1)
    with pytest.raises(ValueError, match=r"t/0@7 is not an OrderEvent"):
        eventlog.event_of(Record("t", 0, 7, None, "plain text", 0, []))


def test_seats_left_takes_a_seat_per_order_and_gives_one_back_per_cancellation():
    events = [_event(1), _event(2), _event(2, "OrderCancelled"), _event(3, concert="c3")]
    assert eventlog.seats_left(events) == {**eventlog.SEATS_TOTAL, "c2": eventlog.SEATS_TOTAL["c2"] - 1,
                                           "c3": eventlog.SEATS_TOTAL["c3"] - 1}
    assert eventlog.seats_left([], {"c9": 5}) == {"c9": 5}


def test_inversions_count_records_that_arrive_after_a_later_one():
    assert eventlog.inversions([0, 1, 2, 3]) == 0
    assert eventlog.inversions([0, 2, 1, 3]) == 1
    assert eventlog.inversions([3, 2, 1]) == 2
    assert eventlog.inversions([]) == 0


def test_by_key_groups_values_and_partitions():
    found = eventlog.by_key([Record("t", 1, 0, b"u1", "0", 0, []), Record("t", 2, 0, b"u2", "1", 0, []),
                             Record("t", 1, 1, b"u1", "2", 0, [])])
    assert found == {"u1": {"partitions": {1}, "values": ["0", "2"]}, "u2": {"partitions": {2}, "values": ["1"]}}


def test_the_naive_handler_charges_twice_and_the_idempotent_one_once(tmp_path):
    naive, once = at_least_once.ChargeLedger(tmp_path / "naive.db"), at_least_once.ChargeLedger(tmp_path / "once.db")
    naive_db, once_db = naive.connect(), once.connect()
    for event in (_event(1), _event(2), _event(1)):          # e1 redelivered
        at_least_once.charge_naively(naive_db, event)
        at_least_once.charge_once(once_db, event)
    assert (naive.charges(), naive.duplicate_charges(), naive.total()) == (3, 1, 180)
    assert (once.charges(), once.duplicate_charges(), once.total()) == (2, 0, 120)
    # the ledger outlives the connection that wrote it, as a payment would
    assert at_least_once.ChargeLedger(tmp_path / "once.db").charges() == 2


def test_a_handler_travels_to_the_consumer_process_as_its_source(tmp_path):
    spec = at_least_once.handler_source(at_least_once.charge_once)
    assert spec["name"] == "charge_once" and spec["source"].startswith("def charge_once(")
    ledger = at_least_once.ChargeLedger(tmp_path / "l.db")
    loaded = at_least_once._load_handler(spec)
    for _ in range(2):
        loaded(ledger.connect(), _event(7))
    assert ledger.charges() == 1
    with pytest.raises(ValueError, match="named function"):
        at_least_once.handler_source(lambda db, event: None)
    with pytest.raises(ValueError, match="keyed naive and idempotent"):
        at_least_once.crash_side_by_side("127.0.0.1:1", "t", "g", tmp_path, handlers={"careful": print})


@pytest.mark.parametrize("call, fragment", [
    (lambda: eventlog.sample_workload(None, orders=0), "orders must be a whole number from 1 to 10000"),
    (lambda: eventlog.sample_workload(None, cancel_every=1), "cancel_every must be a whole number from 2"),
    (lambda: eventlog.read_to_end(None, idle_ms=10), "idle_ms \\(milliseconds\\) must be a whole number from 50"),
    (lambda: eventlog.replay_consumer("127.0.0.1:1", "t", since_ms=-5), "since_ms must be a whole number"),
    (lambda: at_least_once.crash_before_commit("127.0.0.1:1", "t", "g", "x.db", True, crash_after=20, commit_every=10),
     "must not be a multiple of commit_every"),
    (lambda: at_least_once.crash_before_commit("127.0.0.1:1", "t", "g", "x.db", True, crash_after=0), "from 1 to 100000"),
    (lambda: consumer_groups.ConsumerGroup("127.0.0.1:1", "bad topic", "g"), "topic name"),
    (lambda: consumer_groups.ConsumerGroup("127.0.0.1:1", "t", ""), "non-empty string"),
    (lambda: eventlog.queue_workload("amqp://127.0.0.1:1", "q", [], consumers=0), "from 1 to 16"),
])
def test_bad_arguments_are_refused_with_the_allowed_range(call, fragment):
    with pytest.raises(ValueError, match=fragment):
        call()


def test_a_charger_that_dies_early_says_why():
    child = at_least_once._charger({"name": "broken", "bootstrap": "127.0.0.1:1"})
    with pytest.raises(ChildExited, match=r"(?s)broken exited with code 1 before 'assigned'.*KeyError: 'db'"):
        child.wait_for("assigned", timeout=30)
    assert child.popen.wait(timeout=10) != 0


# --- on the brokers --------------------------------------------------------------------

def _box_office(brokers, prefix: str, partitions: int) -> tuple[str, eventlog.BoxOffice]:
    topic = _topic(prefix)
    lk.create_topic(brokers, topic, partitions=partitions)
    return topic, eventlog.BoxOffice(brokers, topic)


@pytest.mark.brokers
def test_replay_rebuilds_the_live_seats_and_a_time_replay_returns_only_what_came_after(brokers):
    topic, office = _box_office(brokers, "replay", partitions=3)
    try:
        events = eventlog.sample_workload(office, orders=30)
        assert office.refused and any(e.type == "OrderCancelled" for e in events)
        since_ms = int(time.time() * 1000)
        later = [office.place("u1", "c2")]
        office.flush()
        everything = eventlog.replay(brokers, topic)
        assert everything and sorted(e.event_id for e in everything) == sorted(e.event_id for e in events + later)
        assert eventlog.seats_left(everything) == office.live_seats()
        assert [e.event_id for e in eventlog.replay(brokers, topic, since_ms=since_ms)] == [later[0].event_id]
        assert eventlog.replay(brokers, topic, since_ms=since_ms + 3_600_000) == []
        with pytest.raises(ValueError, match="no open order"):
            office.cancel("o999")
    finally:
        office.close()


@pytest.mark.brokers
def test_each_group_reads_everything_and_keeps_its_own_offset(brokers):
    topic, office = _box_office(brokers, "groups", partitions=2)
    try:
        events = eventlog.sample_workload(office, orders=12)
    finally:
        office.close()
    first = eventlog.read_as_group(brokers, topic, group=_topic("a"), limit=5)
    assert len(first) == 5
    group_b = _topic("b")
    assert len(eventlog.read_as_group(brokers, topic, group=group_b)) == len(events)
    assert sum(eventlog.committed_offsets(brokers, group_b).values()) == len(events)
    assert eventlog.read_as_group(brokers, topic, group=group_b) == []     # nothing new for b


@pytest.mark.brokers
def test_a_killed_members_partitions_move_to_the_others(brokers):
    topic = _topic("members")
    lk.create_topic(brokers, topic, partitions=2)
    group = consumer_groups.ConsumerGroup(brokers, topic, _topic("g"))
    try:
        group.add("a")
        group.add("b")
        group.wait_until_shared(members=2)
        assert sorted(map(len, group.assignment().values())) == [1, 1]
        group.kill("b")
        group.wait_until_shared(members=1)
        assert group.assignment() == {"a": [0, 1]}
        rows = group.timeline()
        assert {r["member"] for r in rows} == {"a", "b"} and all(r["end"] >= r["start"] for r in rows)
        with pytest.raises(ValueError, match="exists"):
            group.add("a")
        with pytest.raises(ValueError, match="no member 'zz'"):
            group.kill("zz")
    finally:
        group.close()


CHILD = """
import sys, time
from labs.lessons import consumer_groups
group = consumer_groups.ConsumerGroup(sys.argv[1], sys.argv[2], sys.argv[3])
print(group.add("orphan").popen.pid, flush=True)
time.sleep(60)
"""


@pytest.mark.brokers
def test_members_die_with_the_process_that_started_them_even_on_sigkill(brokers):
    topic = _topic("orphan")
    lk.create_topic(brokers, topic)
    parent = subprocess.Popen([sys.executable, "-c", CHILD, lk.bootstrap(brokers), topic, _topic("g")],
                              stdout=subprocess.PIPE, text=True)
    try:
        member_pid = int(parent.stdout.readline())
        assert psutil.pid_exists(member_pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and psutil.pid_exists(member_pid) and \
                psutil.Process(member_pid).status() != psutil.STATUS_ZOMBIE:
            time.sleep(0.1)
        assert not psutil.pid_exists(member_pid) or psutil.Process(member_pid).status() == psutil.STATUS_ZOMBIE
    finally:
        if parent.poll() is None:
            parent.kill()


@pytest.mark.brokers
def test_on_a_queue_each_event_goes_to_one_worker_and_nothing_stays(brokers):
    events = [_event(n) for n in range(10)]
    result = eventlog.queue_workload(brokers.endpoint("rabbitmq")["amqp"], _topic("q"), events, consumers=2)
    delivered = [i for ids in result["per_consumer"].values() for i in ids]
    assert sorted(delivered) == sorted(e.event_id for e in events)
    assert all(result["per_consumer"].values())
    assert result["left_in_queue"] == 0 and result["late_consumer_got"] == 0
